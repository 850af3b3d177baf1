// Package mfa holds the second-factor logic: the Factor interface every
// method implements, time-based tokens, backup codes and the sealing of
// secrets at rest.
package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Keyring seals secrets with AES-256-GCM. The first key seals; every key
// opens, so keys can rotate: add a new key first, run `portal keys rotate`,
// then drop the old one. The user id is bound as additional data, so a
// sealed secret copied to another user's row does not open.
type Keyring struct {
	primary string
	keys    map[string]cipher.AEAD
	macKeys map[string][]byte
}

// ParseKeyring reads "id:base64key,id:base64key" (32-byte keys).
func ParseKeyring(spec string) (*Keyring, error) {
	k := &Keyring{keys: map[string]cipher.AEAD{}, macKeys: map[string][]byte{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" || strings.ContainsAny(id, ".: ") {
			return nil, fmt.Errorf("each key must be id:base64key (id without dots or colons)")
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q must be 32 bytes in base64", id)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		block, _ := aes.NewCipher(raw)
		aead, _ := cipher.NewGCM(block)
		k.keys[id] = aead
		// A separate key for MACs, derived so one key never serves two
		// algorithms.
		mac := hmac.New(sha256.New, raw)
		mac.Write([]byte("client-portal code mac"))
		k.macKeys[id] = mac.Sum(nil)
		if k.primary == "" {
			k.primary = id
		}
	}
	if k.primary == "" {
		return nil, errors.New("no key given")
	}
	return k, nil
}

// NewKeySpec returns a fresh "id:base64key" entry.
func NewKeySpec(id string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// Primary is the id of the sealing key.
func (k *Keyring) Primary() string { return k.primary }

// Seal encrypts plaintext for userID as "keyid.base64(nonce|ciphertext)".
func (k *Keyring) Seal(userID string, plaintext []byte) string {
	aead := k.keys[k.primary]
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	out := aead.Seal(nonce, nonce, plaintext, []byte(userID))
	return k.primary + "." + base64.RawStdEncoding.EncodeToString(out)
}

// Open decrypts a sealed secret of userID.
func (k *Keyring) Open(userID, sealed string) ([]byte, error) {
	id, b64, ok := strings.Cut(sealed, ".")
	aead := k.keys[id]
	if !ok || aead == nil {
		return nil, fmt.Errorf("sealed secret uses unknown key %q", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return nil, errors.New("sealed secret is malformed")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(userID))
	if err != nil {
		return nil, errors.New("sealed secret does not open (wrong key or user)")
	}
	return pt, nil
}

// SealedWithPrimary reports whether sealed already uses the primary key.
func (k *Keyring) SealedWithPrimary(sealed string) bool {
	return strings.HasPrefix(sealed, k.primary+".")
}

// MAC returns a keyed hash of data as "keyid.base64": one-time codes are
// stored this way, so a copy of the database does not let anyone test the
// million possible codes offline.
func (k *Keyring) MAC(data string) string {
	return k.primary + "." + base64.RawStdEncoding.EncodeToString(k.mac(k.primary, data))
}

// VerifyMAC checks data against a MAC made by MAC with any key of the ring.
func (k *Keyring) VerifyMAC(data, mac string) bool {
	id, b64, ok := strings.Cut(mac, ".")
	want, err := base64.RawStdEncoding.DecodeString(b64)
	if !ok || err != nil || k.macKeys[id] == nil {
		return false
	}
	return hmac.Equal(k.mac(id, data), want)
}

func (k *Keyring) mac(id, data string) []byte {
	h := hmac.New(sha256.New, k.macKeys[id])
	h.Write([]byte(data))
	return h.Sum(nil)
}
