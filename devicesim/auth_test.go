package devicesim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"testing"
)

// testKey is one RSA-2048 key for the package's tests: generating one
// costs a noticeable fraction of a second under -race.
var testKey = func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}()

func TestAndroidPublicKeyRoundTrip(t *testing.T) {
	payload, err := encodeAndroidPublicKey(&testKey.PublicKey, "user@host")
	if err != nil {
		t.Fatal(err)
	}
	if payload[len(payload)-1] != 0 {
		t.Fatal("payload is not NUL-terminated")
	}
	key, comment, err := parseAndroidPublicKey(payload)
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equal(&testKey.PublicKey) || comment != "user@host" {
		t.Fatalf("parsed key differs (comment %q)", comment)
	}
	// Without the comment, as an adbkey.pub line, too.
	b64, _, _ := bytes.Cut(payload, []byte(" "))
	if _, _, err := parseAndroidPublicKey(append(b64, '\n')); err != nil {
		t.Fatal(err)
	}
}

func TestAndroidPublicKeyRejects(t *testing.T) {
	good, err := encodeAndroidPublicKey(&testKey.PublicKey, "")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimRight(good, "\x00")))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(off int) []byte {
		b := bytes.Clone(raw)
		b[off] ^= 0x11
		return []byte(base64.StdEncoding.EncodeToString(b))
	}
	for name, in := range map[string][]byte{
		"not base64": []byte("!!!! user@host"),
		"short":      []byte(base64.StdEncoding.EncodeToString(raw[:100])),
		"len":        corrupt(0),
		"n0inv":      corrupt(4),
		"modulus":    corrupt(8 + 40),
		"rr":         corrupt(8 + 256 + 17),
		"exponent":   corrupt(8 + 512),
	} {
		if _, _, err := parseAndroidPublicKey(in); !errors.Is(err, errBadPublicKey) {
			t.Errorf("%s: err = %v, want errBadPublicKey", name, err)
		}
	}
}

func TestVerifyToken(t *testing.T) {
	token := bytes.Repeat([]byte{0x5a}, tokenSize)
	sig, err := rsa.SignPKCS1v15(rand.Reader, testKey, crypto.SHA1, token)
	if err != nil {
		t.Fatal(err)
	}
	keys := []*rsa.PublicKey{&testKey.PublicKey}
	if !verifyToken(keys, token, sig) {
		t.Fatal("valid signature rejected")
	}
	other := bytes.Repeat([]byte{0x5b}, tokenSize)
	if verifyToken(keys, other, sig) {
		t.Fatal("signature of another token accepted")
	}
	if verifyToken(nil, token, sig) {
		t.Fatal("signature accepted with no trusted key")
	}
	if verifyToken(keys, token[:10], sig) {
		t.Fatal("short token accepted")
	}
}
