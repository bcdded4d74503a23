package openaiwire

import (
	"encoding/json"
	"testing"
)

// checkString checks AppendString against encoding/json: valid JSON that
// decodes to what json.Marshal(s) decodes to (invalid UTF-8 bytes become
// U+FFFD in both).
func checkString(t *testing.T, s string) {
	t.Helper()
	b := AppendString([]byte("x"), s)
	var got, want string
	if err := json.Unmarshal(b[1:], &got); err != nil || b[0] != 'x' {
		t.Fatalf("AppendString(%q) = %s: %v", s, b, err)
	}
	ref, _ := json.Marshal(s)
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("AppendString(%q) decodes to %q, want %q", s, got, want)
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "ctl \x00\x01\x1f\n\r\t", "\u2028\u2029", "é漢字🙂", "bad \xff\xfe utf8", "<b>&amp;</b>", "\x7f"} {
		checkString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello \"world\"\n")
	f.Add("\xff\u2028")
	f.Fuzz(checkString)
}
