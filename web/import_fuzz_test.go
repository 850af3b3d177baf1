package web

import (
	"bytes"
	"testing"
)

// FuzzReadImport: any file reads as rows or one error, never a panic; every
// row has a line number and either its fields or the reason it is bad.
func FuzzReadImport(f *testing.F) {
	for _, seed := range []string{
		"email,name,role,account,password_hash,totp_secret\na@example.com,A,owner,X,$2y$10$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,JBSWY3DPEHPK3PXP\n",
		"email\n\"a\"\"b@example.com\"\nx,y\n",
		"{\"email\":\"a@example.com\",\"totp_secret\":\"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=8\"}\n\n{\"email\":5}\nnot json\n",
		"\ufeffEMAIL,Name\r\nb@example.com,B\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := readImport(bytes.NewReader(data), 0)
		if err != nil {
			return
		}
		for _, r := range rows {
			if r.line < 1 || (r.err == "") == (r.fields == nil) {
				t.Fatalf("row %+v", r)
			}
		}
	})
}
