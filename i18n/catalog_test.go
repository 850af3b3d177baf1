package i18n_test

import (
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template/parse"
	"time"
	"unicode"

	"golang.org/x/net/html"

	"github.com/clientportal/portal/i18n"
)

// update rewrites locales/en.json from the code: go test ./i18n -run TestCatalogue -update
var update = flag.Bool("update", false, "rewrite locales/en.json with the message IDs the code uses")

// goDirs hold the Go code whose messages people read (relative to this
// package). The command line speaks English to operators.
var goDirs = []string{"..", "../web", "../mfa", "../mail", "../sqlstore", "../provider", "../yubico", "../whatsapp", "../password", "../webhook"}

// idFuncs return message IDs: their returned string literals are collected.
var idFuncs = map[string]bool{"Label": true, "SendLabel": true, "Prompt": true, "UserMessage": true,
	"errRequired": true, "signInMethod": true, "roleLabel": true, "EventTitle": true, "jsonKind": true, "codeSubject": true}

// idFields are struct fields that hold a message ID.
var idFields = map[string]bool{"Message": true, "Title": true, "Flash": true}

// idMaps are package-level maps whose values are message IDs.
var idMaps = map[string]bool{"flashes": true}

// goIDs returns the message IDs the Go code uses, with where each is.
func goIDs(t *testing.T) map[string]string {
	t.Helper()
	ids := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range goDirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		consts := map[string]string{}
		var parsed []*ast.File
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, af)
			for _, d := range af.Decls {
				if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.CONST {
					for _, sp := range gd.Specs {
						vs := sp.(*ast.ValueSpec)
						for i, n := range vs.Names {
							if i < len(vs.Values) {
								if s, ok := strLit(vs.Values[i], nil); ok {
									consts[n.Name] = s
								}
							}
						}
					}
				}
			}
		}
		for _, af := range parsed {
			add := func(e ast.Expr) {
				if s, ok := strLit(e, consts); ok && s != "" {
					ids[s] = fset.Position(e.Pos()).String()
				}
			}
			ast.Inspect(af, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.FuncDecl:
					if idFuncs[n.Name.Name] && n.Body != nil {
						ast.Inspect(n.Body, func(m ast.Node) bool {
							if r, ok := m.(*ast.ReturnStmt); ok {
								for _, e := range r.Results {
									add(e)
								}
							}
							return true
						})
					}
				case *ast.CallExpr:
					name := ""
					switch f := n.Fun.(type) {
					case *ast.SelectorExpr:
						name = f.Sel.Name
					case *ast.Ident:
						name = f.Name
					}
					switch name {
					case "T", "N", "HTML", "NHTML", "Text", "M":
						if len(n.Args) > 0 {
							add(n.Args[0])
						}
					case "Msg", "RateLimited", "quota":
						if len(n.Args) > 1 {
							add(n.Args[1])
						}
					case "Errorf":
						if len(n.Args) > 1 {
							if s, ok := strLit(n.Args[1], consts); ok && !strings.Contains(s, "%") {
								add(n.Args[1])
							}
						}
					}
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && idFields[k.Name] {
						add(n.Value)
					}
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						if sel, ok := l.(*ast.SelectorExpr); ok && idFields[sel.Sel.Name] && i < len(n.Rhs) {
							add(n.Rhs[i])
						}
					}
				case *ast.ValueSpec:
					for i, nm := range n.Names {
						if idMaps[nm.Name] && i < len(n.Values) {
							if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
								for _, el := range cl.Elts {
									if kv, ok := el.(*ast.KeyValueExpr); ok {
										add(kv.Value)
									}
								}
							}
						}
					}
				}
				return true
			})
		}
	}
	return ids
}

// strLit is the value of a string literal, or of a package constant.
func strLit(e ast.Expr, consts map[string]string) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := consts[e.Name]
		return s, ok
	}
	return "", false
}

// templateFuncs are the functions the templates may call.
var templateFuncs = map[string]any{}

func init() {
	for _, f := range []string{"t", "tn", "date", "num", "roleLabel", "eventTitle", "lang", "dir", "hasPrefix", "join", "has", "dict", "a", "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js", "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call"} {
		templateFuncs[f] = true
	}
}

// untranslatable are words that stay as they are in every language.
var untranslatable = []string{"WhatsApp", "YubiKey", "JSON", "CSV", "SVG", "API", "OTP", "PNG", "URL", "UTC", "ID", "TOTP", "iOS", "Android", "https", "http", "cpt_", "Bearer", "Authorization"}

// templateIDs returns the message IDs the templates under glob use, and
// complains about text in them that does not go through t or tn.
func templateIDs(t *testing.T, glob string, ids map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(glob)
	if len(files) == 0 {
		t.Fatalf("no templates at %s", glob)
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		trees, err := parse.Parse(f, string(src), "", "", templateFuncs, map[string]any{"plural": true})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var text strings.Builder
		for _, tree := range trees {
			walk(tree.Root, func(n parse.Node) {
				switch n := n.(type) {
				case *parse.TextNode:
					text.Write(n.Text)
				case *parse.ActionNode, *parse.IfNode, *parse.RangeNode, *parse.WithNode, *parse.TemplateNode:
					text.WriteString("\x01")
					for _, cmd := range pipeCmds(n) {
						if len(cmd.Args) == 0 {
							continue
						}
						id, ok := cmd.Args[0].(*parse.IdentifierNode)
						if !ok {
							continue
						}
						switch id.Ident {
						case "plural":
							t.Errorf("%s: %q: use tn with a whole sentence instead of plural", f, cmd.String())
						case "t", "tn":
							if len(cmd.Args) > 1 {
								if s, ok := cmd.Args[1].(*parse.StringNode); ok {
									ids[s.Text] = f
								}
							}
						}
					}
				}
			})
		}
		// What the page shows outside actions (actions are \x01 here):
		// text and the attributes people read must hold no words.
		z := html.NewTokenizer(strings.NewReader(text.String()))
		raw := false
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				break
			}
			tok := z.Token()
			switch tt {
			case html.StartTagToken, html.SelfClosingTagToken:
				raw = tt == html.StartTagToken && (tok.Data == "script" || tok.Data == "style")
				for _, a := range tok.Attr {
					switch a.Key {
					case "placeholder", "aria-label", "title", "alt":
						if hasWords(a.Val) {
							t.Errorf("%s: attribute %s=%q is not translated", f, a.Key, a.Val)
						}
					}
				}
			case html.EndTagToken:
				raw = false
			case html.TextToken:
				// <noscript> content comes as text: its tags go.
				if !raw && hasWords(noTags.ReplaceAllString(tok.Data, " ")) {
					t.Errorf("%s: text %q is not translated", f, strings.TrimSpace(tok.Data))
				}
			}
		}
	}
}

var urlsAndAddresses = regexp.MustCompile(`https?://\S+|\S+@\S+`)

func hasWords(s string) bool {
	s = urlsAndAddresses.ReplaceAllString(s, " ")
	for _, w := range untranslatable {
		s = strings.ReplaceAll(s, w, "")
	}
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if letters >= 2 {
				return true
			}
		} else {
			letters = 0
		}
	}
	return false
}

func pipeCmds(n parse.Node) []*parse.CommandNode {
	var pipe *parse.PipeNode
	switch n := n.(type) {
	case *parse.ActionNode:
		pipe = n.Pipe
	case *parse.IfNode:
		pipe = n.Pipe
	case *parse.RangeNode:
		pipe = n.Pipe
	case *parse.WithNode:
		pipe = n.Pipe
	}
	if pipe == nil {
		return nil
	}
	var out []*parse.CommandNode
	var visit func(p *parse.PipeNode)
	visit = func(p *parse.PipeNode) {
		for _, c := range p.Cmds {
			out = append(out, c)
			for _, a := range c.Args {
				if sub, ok := a.(*parse.PipeNode); ok {
					visit(sub)
				}
			}
		}
	}
	visit(pipe)
	return out
}

func walk(n parse.Node, f func(parse.Node)) {
	if n == nil {
		return
	}
	f(n)
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walk(c, f)
			}
		}
	case *parse.IfNode:
		walk(n.List, f)
		if n.ElseList != nil {
			walk(n.ElseList, f)
		}
	case *parse.RangeNode:
		walk(n.List, f)
		if n.ElseList != nil {
			walk(n.ElseList, f)
		}
	case *parse.WithNode:
		walk(n.List, f)
		if n.ElseList != nil {
			walk(n.ElseList, f)
		}
	}
}

// usedIDs are every message ID in the code and the templates.
func usedIDs(t *testing.T) map[string]string {
	ids := goIDs(t)
	templateIDs(t, "../web/templates/*.html", ids)
	templateIDs(t, "../mail/templates/*", ids)
	// The i18n package's own messages.
	for _, id := range []string{"{{.Count}} days", "{{.Count}} hours", "{{.Count}} minutes", "{{.Count}} seconds",
		"2 Jan 2006, 15:04", "Monday, 2 January 2006, 15:04:05 MST", "never"} {
		ids[id] = "i18n"
	}
	return ids
}

func readCatalogue(t *testing.T, code string) map[string]any {
	t.Helper()
	data, err := os.ReadFile("locales/" + code + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("locales/%s.json: %v", code, err)
	}
	return m
}

// TestCatalogue fails when the code or a template shows text that is not
// in the English catalogue, when the catalogue holds IDs nothing uses,
// and when a template shows words outside the catalogue functions.
func TestCatalogue(t *testing.T) {
	used := usedIDs(t)
	en := readCatalogue(t, "en")
	if *update {
		for id := range used {
			if _, ok := en[id]; !ok {
				en[id] = id
			}
		}
		for id := range en {
			if _, ok := used[id]; !ok {
				delete(en, id)
			}
		}
		writeCatalogue(t, "en", en)
		return
	}
	var missing, stale []string
	for id, where := range used {
		if _, ok := en[id]; !ok {
			missing = append(missing, where+": "+strconv.Quote(id))
		}
	}
	for id := range en {
		if _, ok := used[id]; !ok {
			stale = append(stale, strconv.Quote(id))
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	if len(missing) > 0 {
		t.Errorf("%d messages are not in locales/en.json (go test ./i18n -run TestCatalogue -update adds them):\n%s", len(missing), strings.Join(missing, "\n"))
	}
	if len(stale) > 0 {
		t.Errorf("%d messages of locales/en.json are used nowhere:\n%s", len(stale), strings.Join(stale, "\n"))
	}
}

// timeLayouts are the messages that are Go time layouts.
var timeLayouts = []string{"2 Jan 2006, 15:04", "Monday, 2 January 2006, 15:04:05 MST", "2 Jan", "2 Jan 2006"}

var noTags = regexp.MustCompile(`<[^>]*>`)

var placeholderRE = regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`)

func placeholders(v any) []string {
	var out []string
	add := func(s string) {
		for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
	}
	switch v := v.(type) {
	case string:
		add(v)
	case map[string]any:
		for _, f := range v {
			if s, ok := f.(string); ok {
				add(s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestTranslationsComplete fails when a language lacks a message of the
// English catalogue, holds one it does not have, or loses or invents a
// placeholder; and when its markup differs from the English.
func TestTranslationsComplete(t *testing.T) {
	en := readCatalogue(t, "en")
	for _, lang := range i18n.Languages[1:] {
		t.Run(lang.Code, func(t *testing.T) {
			cat := readCatalogue(t, lang.Code)
			var missing []string
			for id, ev := range en {
				v, ok := cat[id]
				if !ok {
					missing = append(missing, strconv.Quote(id))
					continue
				}
				if got, want := placeholders(v), placeholders(ev); !slices.Equal(got, want) && !(len(want) == 1 && want[0] == "Count" && len(got) == 0) {
					t.Errorf("%q: placeholders %v, English has %v", id, got, want)
				}
				if got, want := tags(v), tags(ev); !slices.Equal(got, want) {
					t.Errorf("%q: markup %v, English has %v", id, got, want)
				}
				if _, plural := ev.(map[string]any); plural {
					m, ok := v.(map[string]any)
					if !ok || m["other"] == nil {
						t.Errorf("%q: needs plural forms, at least \"other\"", id)
					}
				}
			}
			// Time layouts: numbers, never English month or day names.
			at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			for _, id := range timeLayouts {
				v, _ := cat[id].(string)
				out := at.Format(v)
				if v == "" || !strings.Contains(out, "4") || strings.Contains(out, "Mar") || strings.Contains(out, "Wed") {
					t.Errorf("%q must be a Go time layout with numbers only; %q formats a date as %q", id, v, out)
				}
			}
			for id := range cat {
				if _, ok := en[id]; !ok {
					t.Errorf("%q is not an English message", id)
				}
			}
			slices.Sort(missing)
			if len(missing) > 0 {
				t.Errorf("%d of %d messages are not translated:\n%s", len(missing), len(en), strings.Join(missing, "\n"))
			}
		})
	}
}

var markupRE = regexp.MustCompile(`</?[a-z]+[^>]*>`)

func tags(v any) []string {
	s, ok := v.(string)
	if !ok {
		if m, ok := v.(map[string]any); ok {
			s, _ = m["other"].(string)
		}
	}
	out := markupRE.FindAllString(s, -1)
	slices.Sort(out)
	return out
}

func writeCatalogue(t *testing.T, code string, m map[string]any) {
	t.Helper()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("{\n")
	for i, k := range keys {
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(m[k])
		b.WriteString("  " + unescapeJSON(string(kj)) + ": " + unescapeJSON(string(vj)))
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	if err := os.WriteFile("locales/"+code+".json", []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unescapeJSON undoes encoding/json's HTML escaping (<, >, &), which the
// catalogue does not need and translators should not read.
func unescapeJSON(s string) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s)
}
