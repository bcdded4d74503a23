package gemini

import (
	"encoding/base64"
	"strings"
)

// Tool-call ids carry Gemini's thought signatures through the stateless
// gateway (see the package documentation): "call_" + 24 random letters and
// digits without a signature, "call_" + 8 random + sigMarker + the
// signature with one.

// sigMarker separates an id's random part from its encoded signature.
const sigMarker = "__ts_"

// rawSigFlag starts an encoded signature that was not canonical base64
// and is therefore carried as base64url of its bytes.
const rawSigFlag = "~"

// toolCallID makes the OpenAI id of a functionCall part that came with
// signature sig (possibly empty).
func (a *Adapter) toolCallID(sig string) string {
	id := a.newID("call_")
	if sig == "" {
		return id
	}
	if len(id) > len("call_")+8 {
		id = id[:len("call_")+8]
	}
	return id + sigMarker + encodeSignature(sig)
}

// signatureFromID returns the thought signature an id made by toolCallID
// carries.
func signatureFromID(id string) (string, bool) {
	if !strings.HasPrefix(id, "call_") {
		return "", false
	}
	_, enc, ok := strings.Cut(id, sigMarker)
	if !ok || enc == "" {
		return "", false
	}
	return decodeSignature(enc)
}

// encodeSignature turns a signature (standard base64, as Gemini sends it)
// into base64url without padding, which is safe in ids. A signature that
// is not canonical padded base64 is carried as base64url of its bytes.
func encodeSignature(sig string) string {
	if !isPaddedBase64(sig) {
		return rawSigFlag + base64.RawURLEncoding.EncodeToString([]byte(sig))
	}
	r := strings.NewReplacer("+", "-", "/", "_", "=", "")
	return r.Replace(sig)
}

// decodeSignature reverses encodeSignature.
func decodeSignature(enc string) (string, bool) {
	if raw, ok := strings.CutPrefix(enc, rawSigFlag); ok {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
	for i := 0; i < len(enc); i++ {
		if !isURLBase64Char(enc[i]) {
			return "", false
		}
	}
	if len(enc)%4 == 1 {
		return "", false
	}
	r := strings.NewReplacer("-", "+", "_", "/")
	s := r.Replace(enc)
	if n := len(s) % 4; n != 0 {
		s += strings.Repeat("=", 4-n)
	}
	return s, true
}

// isPaddedBase64 reports whether s is standard base64 with padding: a
// multiple of four characters of the standard alphabet, with at most two
// trailing '='.
func isPaddedBase64(s string) bool {
	if len(s) == 0 || len(s)%4 != 0 {
		return false
	}
	body := strings.TrimRight(s, "=")
	if len(s)-len(body) > 2 {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '+' && c != '/' && !isAlnum(c) {
			return false
		}
	}
	return true
}

// isURLBase64Char reports whether c is in the base64url alphabet.
func isURLBase64Char(c byte) bool { return c == '-' || c == '_' || isAlnum(c) }

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
