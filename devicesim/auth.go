package devicesim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
)

// Android's RSA public key format (the payload of AUTH RSAPUBLICKEY, and
// ~/.android/adbkey.pub): base64 of a little-endian struct
//
//	u32 len        modulus length in 32-bit words (64 for RSA-2048)
//	u32 n0inv      -1 / n[0] mod 2^32
//	u32 n[len]     modulus, least significant word first
//	u32 rr[len]    R^2 mod n, R = 2^(32·len)
//	u32 exponent
//
// followed by " user@host" and a NUL.
const (
	androidKeyWords = 64
	androidKeySize  = 4 + 4 + 4*androidKeyWords + 4*androidKeyWords + 4
)

var errBadPublicKey = errors.New("adb: bad RSA public key")

// parseAndroidPublicKey decodes an AUTH RSAPUBLICKEY payload and checks
// that its precomputed fields agree with its modulus.
func parseAndroidPublicKey(payload []byte) (*rsa.PublicKey, string, error) {
	payload = bytes.TrimRight(payload, "\x00\r\n\t ")
	b64, comment, _ := bytes.Cut(payload, []byte(" "))
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(b64)))
	n, err := base64.StdEncoding.Decode(raw, b64)
	if err != nil {
		return nil, "", fmt.Errorf("%w: base64: %v", errBadPublicKey, err)
	}
	raw = raw[:n]
	if len(raw) != androidKeySize {
		return nil, "", fmt.Errorf("%w: %d bytes, want %d", errBadPublicKey, len(raw), androidKeySize)
	}
	words := binary.LittleEndian.Uint32(raw[0:])
	if words != androidKeyWords {
		return nil, "", fmt.Errorf("%w: modulus of %d words, want %d", errBadPublicKey, words, androidKeyWords)
	}
	n0inv := binary.LittleEndian.Uint32(raw[4:])
	mod := leWords(raw[8 : 8+4*androidKeyWords])
	rr := leWords(raw[8+4*androidKeyWords : 8+8*androidKeyWords])
	exp := binary.LittleEndian.Uint32(raw[8+8*androidKeyWords:])

	if mod.BitLen() < 1024 || mod.Bit(0) == 0 {
		return nil, "", fmt.Errorf("%w: modulus of %d bits", errBadPublicKey, mod.BitLen())
	}
	n0 := binary.LittleEndian.Uint32(raw[8:])
	if n0*n0inv != 0xffffffff { // n0inv·n[0] ≡ -1 (mod 2^32)
		return nil, "", fmt.Errorf("%w: n0inv does not match the modulus", errBadPublicKey)
	}
	want := new(big.Int).Lsh(big.NewInt(1), 2*32*androidKeyWords)
	if want.Mod(want, mod).Cmp(rr) != 0 {
		return nil, "", fmt.Errorf("%w: rr does not match the modulus", errBadPublicKey)
	}
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, "", fmt.Errorf("%w: exponent %d", errBadPublicKey, exp)
	}
	return &rsa.PublicKey{N: mod, E: int(exp)}, string(comment), nil
}

// leWords reads little-endian 32-bit words, least significant first.
func leWords(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i := range len(b) / 4 {
		w := binary.LittleEndian.Uint32(b[4*i:])
		binary.BigEndian.PutUint32(be[len(b)-4*(i+1):], w)
	}
	return new(big.Int).SetBytes(be)
}

// encodeAndroidPublicKey is the inverse of parseAndroidPublicKey, for a
// 2048-bit key.
func encodeAndroidPublicKey(k *rsa.PublicKey, comment string) ([]byte, error) {
	if k.N.BitLen() > 32*androidKeyWords || k.E > 1<<31-1 {
		return nil, fmt.Errorf("%w: need RSA-2048", errBadPublicKey)
	}
	raw := make([]byte, androidKeySize)
	binary.LittleEndian.PutUint32(raw[0:], androidKeyWords)
	putLEWords(raw[8:8+4*androidKeyWords], k.N)
	n0 := binary.LittleEndian.Uint32(raw[8:])
	// n0inv = -(n0^-1) mod 2^32, by Newton iteration (n0 is odd).
	inv := n0
	for range 5 {
		inv *= 2 - n0*inv
	}
	binary.LittleEndian.PutUint32(raw[4:], -inv)
	rr := new(big.Int).Lsh(big.NewInt(1), 2*32*androidKeyWords)
	putLEWords(raw[8+4*androidKeyWords:8+8*androidKeyWords], rr.Mod(rr, k.N))
	binary.LittleEndian.PutUint32(raw[8+8*androidKeyWords:], uint32(k.E))
	out := base64.StdEncoding.AppendEncode(nil, raw)
	if comment != "" {
		out = append(out, ' ')
		out = append(out, comment...)
	}
	return append(out, 0), nil
}

func putLEWords(dst []byte, v *big.Int) {
	be := v.FillBytes(make([]byte, len(dst)))
	for i := range len(dst) / 4 {
		binary.LittleEndian.PutUint32(dst[4*i:], binary.BigEndian.Uint32(be[len(be)-4*(i+1):]))
	}
}

// verifyToken reports whether sig is the host's signature of token by one
// of keys: RSA PKCS#1 v1.5 with the 20-byte token taken as a SHA-1 digest,
// which is what adb's RSA_sign(NID_sha1, ...) produces.
func verifyToken(keys []*rsa.PublicKey, token, sig []byte) bool {
	if len(token) != tokenSize {
		return false
	}
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA1, token, sig) == nil {
			return true
		}
	}
	return false
}
