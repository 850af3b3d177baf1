package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/clientportal/portal/whatsapp/whatsapptest"
)

// devWhatsApp serves a local stand-in for the WhatsApp Cloud API and prints
// each code it receives, so a developer can try WhatsApp sign-in without a
// Meta account. It speaks the same HTTP contract as the real API.
func (m *Main) devWhatsApp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev-whatsapp", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	addr := fs.String("addr", "127.0.0.1:8091", "listen address")
	token := fs.String("token", "dev-token", "the access token the portal must send")
	id := fs.String("phone-number-id", "1000000000", "the phone number id the portal must use")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := whatsapptest.NewHandler(*token, *id)
	defer h.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "WhatsApp Cloud API stand-in on %s. Run the portal with:\n  PORTAL_WHATSAPP_API_URL=http://%s/v21.0 PORTAL_WHATSAPP_PHONE_NUMBER_ID=%s PORTAL_WHATSAPP_ACCESS_TOKEN=%s\n",
		ln.Addr(), ln.Addr(), *id, *token)
	var mu sync.Mutex
	shown := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		mu.Lock()
		defer mu.Unlock()
		msgs := h.Messages()
		for _, msg := range msgs[shown:] {
			fmt.Fprintf(m.Stdout, "WhatsApp to +%s (template %s/%s): code %s\n", msg.To, msg.Template, msg.Language, msg.Code)
		}
		shown = len(msgs)
	})}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
