// Package tokens counts tokens locally with tiktoken, for the usage
// estimates the gateway needs when an upstream reports none (and for the
// mock provider, which has no upstream at all).
//
// Counting is fully offline: the BPE ranks come from the files embedded in
// github.com/pkoukk/tiktoken-go-loader, never from the network. Counts are
// exact for OpenAI models' text and a documented approximation for
// everything else (other vendors' tokenizers, images, audio, files, tool
// definitions).
package tokens

import (
	"strings"
	"sync"

	"github.com/pkoukk/tiktoken-go"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/tollgate-gw/tollgate/provider"
)

// Encoding names, as tiktoken spells them.
const (
	encO200k  = tiktoken.MODEL_O200K_BASE
	encCL100k = tiktoken.MODEL_CL100K_BASE
)

// loaderOnce guards tiktoken-go's package-level BPE loader. The library
// keeps the loader in an unsynchronised global that defaults to
// downloading the BPE files over HTTPS; SetBpeLoader is the only way to
// switch it to the embedded offline files. Installing it once, through a
// sync.Once that every load passes first, gives the write a happens-before
// edge with all our reads and keeps repeated New calls from racing on it.
var loaderOnce sync.Once

func installOfflineLoader() {
	loaderOnce.Do(func() {
		tiktoken.SetBpeLoader(tiktokenloader.NewOfflineLoader())
	})
}

// Counter counts tokens with tiktoken. It implements provider.TokenCounter
// and is safe for concurrent use. Each encoding is loaded lazily, once per
// Counter, on first use (o200k_base: 100–250 ms and about 20 MB, of which
// tiktoken-go keeps the ranks globally and each Counter builds about 13 MB
// of its own tables) and kept; share one Counter per process. The zero
// value is ready to use; a Counter must not be copied.
type Counter struct {
	encs [len(encodingNames)]encoding
}

// encodingNames are the encodings the embedded offline files cover, in
// the order of Counter.encs. tiktoken-go also lists "gpt2" but cannot
// build it.
var encodingNames = [...]string{encO200k, encCL100k, tiktoken.MODEL_P50K_BASE, tiktoken.MODEL_P50K_EDIT, tiktoken.MODEL_R50K_BASE}

var _ provider.TokenCounter = (*Counter)(nil)

// encoding is one lazily loaded tiktoken encoding.
type encoding struct {
	once sync.Once
	tk   *tiktoken.Tiktoken // nil if loading failed
}

// New returns a Counter. Encodings load on first use.
func New() *Counter {
	installOfflineLoader()
	return &Counter{}
}

// CountText returns the number of tokens of text in the encoding of model.
// Special-token markers such as "<|endoftext|>" count as ordinary text.
func (c *Counter) CountText(model, text string) int {
	if text == "" {
		return 0
	}
	return c.encodingFor(model).count(text)
}

// EncodingName reports the tiktoken encoding CountText and CountChat use
// for model, without loading it.
func EncodingName(model string) string {
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.ToLower(model)
	// tiktoken's own tables first (what tiktoken.EncodingForModel uses;
	// calling it directly would build a new BPE on every call).
	if name, ok := tiktoken.MODEL_TO_ENCODING[model]; ok {
		if supported(name) {
			return name
		}
		return encO200k
	}
	for prefix, name := range tiktoken.MODEL_PREFIX_TO_ENCODING {
		if strings.HasPrefix(model, prefix) && supported(name) {
			return name
		}
	}
	for _, prefix := range o200kPrefixes {
		if strings.HasPrefix(model, prefix) {
			return encO200k
		}
	}
	if strings.HasPrefix(model, "gpt-4") || strings.HasPrefix(model, "gpt-3.5") {
		return encCL100k
	}
	// Claude, Gemini, Llama, Mistral…: their tokenizers are not public or
	// not BPE-compatible; o200k_base is the closest widely used modern
	// vocabulary and a reasonable approximation.
	return encO200k
}

// o200kPrefixes are the model families tokenized with o200k_base that
// tiktoken-go's tables do not (yet) list. They are checked before the
// gpt-4 / gpt-3.5 catch-all, which is cl100k_base.
var o200kPrefixes = []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o"}

// supported reports whether the embedded offline files cover the encoding.
func supported(name string) bool { return encodingIndex(name) >= 0 }

// encodingIndex returns the position of name in encodingNames, or -1.
func encodingIndex(name string) int {
	for i, n := range encodingNames {
		if n == name {
			return i
		}
	}
	return -1
}

// encodingFor returns the loaded encoding for model. If the model's
// encoding fails to load it falls back to o200k_base, and if that fails
// too the result counts with a bytes/4 heuristic; it never returns nil.
func (c *Counter) encodingFor(model string) *encoding {
	i := encodingIndex(EncodingName(model))
	e := c.load(i)
	if e.tk == nil && i != 0 {
		e = c.load(0) // o200k_base
	}
	return e
}

// load returns encoding i of encodingNames, loading it on first use.
func (c *Counter) load(i int) *encoding {
	e := &c.encs[i]
	e.once.Do(func() {
		installOfflineLoader()
		if tk, err := tiktoken.GetEncoding(encodingNames[i]); err == nil {
			e.tk = tk
		}
	})
	return e
}

// count returns the number of tokens of s.
func (e *encoding) count(s string) int {
	if s == "" {
		return 0
	}
	if e.tk == nil {
		return (len(s) + 3) / 4
	}
	return len(e.tk.EncodeOrdinary(s))
}
