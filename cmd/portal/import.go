package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
)

// importUsers runs `portal import users FILE [--dry-run]`: it prints what
// was (or would be) done and every problem with its line number, and
// fails when any line was not imported.
func (m *Main) importUsers(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("import users", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	dry := fs.Bool("dry-run", false, "check the file and print what would happen; write nothing")
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "Usage: portal import users FILE [--dry-run]   (CSV with a header, or JSON Lines)")
		fs.PrintDefaults()
	}
	// The file may come before or after the flag.
	var file string
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() == 1 {
		file = fs.Arg(0)
	} else if file == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("import users: name one file")
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	defer f.Close()
	if err := m.open(ctx); err != nil {
		return err
	}
	rep, err := m.Server.ImportUsers(ctx, f, *dry, true)
	if err != nil {
		return fmt.Errorf("import users: %w", err)
	}
	verb := "created"
	if *dry {
		verb = "would create"
	}
	fmt.Fprintf(m.Stdout, "%s %d, unchanged %d (already here), not imported %d\n", verb, rep.Created, rep.Unchanged, len(rep.Problems))
	for _, p := range rep.Problems {
		fmt.Fprintln(m.Stdout, p)
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("import users: %d lines were not imported (see above)", len(rep.Problems))
	}
	return nil
}
