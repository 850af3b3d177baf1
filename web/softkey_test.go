package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/web"
)

// softKey is a security key in software (a P-256 key, "none" attestation),
// for tests that need many assertions without a browser. Chromium's
// virtual authenticators cover the real browser flow (cmd/portal).
type softKey struct {
	priv         *ecdsa.PrivateKey
	id           []byte
	count        uint32
	rpID, origin string
	// handle is the user handle a passkey returns with its assertions
	// (nil: a security key's, none).
	handle []byte
	// noUV leaves user verification out of assertions (presence only).
	noUV bool
}

// softOrigin is the public origin of the portal for security keys: the
// same for every instance, as replicas behind one address are.
const softOrigin = "http://localhost:8443"

// withWebAuthn offers security keys with the relying party localhost.
func withWebAuthn(_ *web.Config, d *web.Deps) {
	rp, err := mfa.NewRelyingParty("Test Portal", softOrigin, "localhost")
	if err != nil {
		panic(err)
	}
	d.WebAuthn = &mfa.WebAuthn{RP: rp, Keys: d.TOTP.Keys, Clock: d.Clock, Store: d.Store}
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k := &softKey{priv: priv, id: make([]byte, 32), rpID: "localhost", origin: softOrigin}
	rand.Read(k.id)
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// authData is the authenticator data: RP id hash, flags, counter and, when
// registering, the credential and its public key.
func (k *softKey) authData(t *testing.T, flags byte, attested bool) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	k.count++
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	if attested {
		pub, err := k.priv.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			t.Fatal(err)
		}
		cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: pub[1:33], -3: pub[33:]})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, make([]byte, 16)...) // AAGUID
		out = binary.BigEndian.AppendUint16(out, uint16(len(k.id)))
		out = append(append(out, k.id...), cose...)
	}
	return out
}

func (k *softKey) clientData(typ string, opts map[string]any) []byte {
	challenge := opts["publicKey"].(map[string]any)["challenge"].(string)
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// create answers registration options as navigator.credentials.create would.
func (k *softKey) create(t *testing.T, opts map[string]any) map[string]any {
	t.Helper()
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(t, 0x45, true)})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64(k.clientData("webauthn.create", opts)), "attestationObject": b64(att)}}
}

// get answers login options as navigator.credentials.get would.
func (k *softKey) get(t *testing.T, opts map[string]any) map[string]any {
	t.Helper()
	flags := byte(0x05) // user present, verified
	if k.noUV {
		flags = 0x01
	}
	return k.getFlags(t, opts, flags)
}

// enrolKey registers k for the signed-in client c.
func (e *env) enrolKey(t *testing.T, c *client, k *softKey) {
	t.Helper()
	r := c.api("POST", "/api/v1/me/2fa/webauthn/begin", nil)
	if r.StatusCode != 200 {
		t.Fatalf("register begin: %d %s", r.StatusCode, r.Body)
	}
	r = c.api("POST", "/api/v1/me/2fa/webauthn/finish", map[string]any{"name": "Soft key", "credential": k.create(t, r.json())})
	if r.StatusCode != 200 {
		t.Fatalf("register finish: %d %s", r.StatusCode, r.Body)
	}
}

// getFlags answers login options like k.get with the given authenticator
// flags (UP 0x01, UV 0x04).
func (k *softKey) getFlags(t *testing.T, opts map[string]any, flags byte) map[string]any {
	t.Helper()
	cd := k.clientData("webauthn.get", opts)
	ad := k.authData(t, flags, false)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	resp := map[string]any{"clientDataJSON": b64(cd), "authenticatorData": b64(ad), "signature": b64(sig)}
	if k.handle != nil {
		resp["userHandle"] = b64(k.handle)
	}
	return map[string]any{"id": b64(k.id), "rawId": b64(k.id), "type": "public-key", "response": resp}
}
