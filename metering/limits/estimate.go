package limits

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/tidwall/gjson"
)

// The admission estimate. It must be cheap (the hot path cannot afford
// tiktoken) and conservative (an estimate below the truth lets concurrent
// requests overshoot a limit before their answers settle). It is computed
// from the raw request body in one pass over its bytes, eight at a time:
//
//	tokens = ⌈(ASCII bytes + 2 × non-ASCII bytes + 4 × 4-byte sequences) / 3⌉
//
// that is one token per 3 ASCII bytes, two tokens per 3-byte character
// (CJK, most Indic and Southeast Asian scripts), 4/3 per 2-byte character
// (Cyrillic, Greek, Arabic, Hebrew, accented Latin) and four per 4-byte
// character (emoji, rare CJK): a 4-byte character can never take more than
// four tokens, since no token is shorter than a byte.
//
// Why these ratios: OpenAI's tokenizers average about 4 bytes per token on
// English prose (cl100k_base and o200k_base alike) and 3–3.5 on code;
// 3 bytes per token over-estimates both by a safe margin. CJK text takes
// 0.7 (o200k) to 1.1 (cl100k) tokens per character, Cyrillic and Arabic
// 0.3–0.9 per character, and emoji, with their joiners and variation
// selectors, up to 2.5 per visible emoji in cl100k. Counting the whole
// body rather than only the message texts adds a margin of its own: the
// JSON syntax around each message (about 30 bytes, 10 tokens) covers the
// chat format's 4-token message overhead, JSON escapes make text longer,
// and tool definitions and response schemas, which the upstream bills as
// prompt tokens, are included. TestEstimateIsConservative measures the
// result against tiktoken on a corpus of English, code, JSON, Chinese,
// Japanese, emoji and the OpenAI request fixtures.
//
// Text that tokenizes at fewer than 3 bytes per token escapes the bound:
// hex digests (1 byte per token: digits and letters alternate, and BPE
// splits every switch), base64 (about 1.8), UUIDs (about 2), long digit
// strings (2.2, numbers split into groups of three). A prompt made mostly
// of those is under-estimated; Settle then corrects the window to the
// upstream's figure. Gemini's and Claude's tokenizers are not public; the
// upstream's reported usage settles those too.
//
// Media parts (image_url, input_audio, file) are not counted by size:
// their base64 data would swamp the estimate. Their bytes are left out and
// a fixed figure is added per part.
const (
	// BytesPerToken is the ASCII bytes per estimated token.
	BytesPerToken = 3
	// ImageLowTokens is an image part with detail "low": OpenAI's fixed
	// cost for gpt-4o-class models.
	ImageLowTokens = 85
	// ImageTokens is any other image part: the most a gpt-4o-class model
	// charges for one image at high detail (85 + 8 tiles × 170, a
	// 768×2048 image after scaling). gpt-4o-mini bills images at many
	// times that; its reported usage settles the difference.
	ImageTokens = 1445
	// AudioTokens is an input_audio part: about 40 s of speech at OpenAI's
	// roughly 10 audio tokens per second.
	AudioTokens = 400
	// FileTokens is a file part (typically a PDF): a few pages of text
	// and page images.
	FileTokens = 2000
	// DefaultMaxTokens is the answer reserved for a request that sets no
	// max_tokens and whose caller gives no default: long enough for most
	// chat answers, short enough that a small per-minute token limit still
	// admits a few requests at a time.
	DefaultMaxTokens = 4096
	// MaxChoices caps the n the answer reservation is multiplied by.
	MaxChoices = 128
)

// EstimatePromptTokens returns a conservative estimate of the prompt
// tokens of an OpenAI request body (chat completions, embeddings, legacy
// completions) without tokenizing it: see the ratios above. It costs a
// few microseconds per 20 KB (about 4,000 tokens) of text; bodies with
// media parts also pay one JSON walk over the messages. It never panics,
// whatever body is.
func EstimatePromptTokens(body []byte) int64 {
	return estimate(body, scanNames(body))
}

// estimate is EstimatePromptTokens with the body's names already scanned.
func estimate(body []byte, names names) int64 {
	ascii, nonASCII, quads := byteClasses(body)
	weight := ascii + 2*nonASCII + 4*quads
	var media int64
	if names&nameMedia != 0 {
		skipped, tokens := mediaParts(body)
		weight = max(weight-skipped, 0)
		media = tokens
	}
	return (weight+BytesPerToken-1)/BytesPerToken + media
}

const highBits = 0x8080808080808080

// byteClasses counts the ASCII bytes, the other bytes and the lead bytes
// of 4-byte UTF-8 sequences (11110xxx) of b, eight bytes at a time and
// skipping 32-byte runs of ASCII with one test.
func byteClasses(b []byte) (ascii, nonASCII, quads int64) {
	i := 0
	for ; i+32 <= len(b); i += 32 {
		w0 := binary.LittleEndian.Uint64(b[i:])
		w1 := binary.LittleEndian.Uint64(b[i+8:])
		w2 := binary.LittleEndian.Uint64(b[i+16:])
		w3 := binary.LittleEndian.Uint64(b[i+24:])
		if (w0|w1|w2|w3)&highBits == 0 {
			continue
		}
		for _, x := range [4]uint64{w0, w1, w2, w3} {
			n, q := wordClasses(x)
			nonASCII += n
			quads += q
		}
	}
	for ; i+8 <= len(b); i += 8 {
		n, q := wordClasses(binary.LittleEndian.Uint64(b[i:]))
		nonASCII += n
		quads += q
	}
	for ; i < len(b); i++ {
		if c := b[i]; c >= 0x80 {
			nonASCII++
			if c >= 0xF0 {
				quads++
			}
		}
	}
	return int64(len(b)) - nonASCII, nonASCII, quads
}

// wordClasses counts the non-ASCII bytes and the 4-byte lead bytes of the
// eight bytes in x. A byte's bit 7 survives the ANDs iff its bits 7, 6, 5
// and 4 are set: shifting left by up to three moves bits within a byte as
// far as its bit 7.
func wordClasses(x uint64) (nonASCII, quads int64) {
	h := x & highBits
	return int64(bits.OnesCount64(h)), int64(bits.OnesCount64(h & (x << 1) & (x << 2) & (x << 3)))
}

// names records which JSON names of interest a body contains.
type names uint8

const (
	nameMedia     names = 1 << iota // "image_url", "input_audio" or "file"
	nameMaxTokens                   // "max_tokens" or "max_completion_tokens"
	nameN                           // "n"
)

// scanNames finds the names of interest in one pass over the body's
// quotes. Only an unescaped quote can open a JSON name or value, so text
// inside strings never matches; a name that occurs as a value, or nested
// elsewhere, only costs a needless look with gjson. (bytes.Contains is
// slower here: JSON's many quotes make it give up IndexByte for a generic
// search at about 1 GB/s.)
func scanNames(body []byte) names {
	var n names
	for i := 0; i < len(body); {
		j := bytes.IndexByte(body[i:], '"')
		if j < 0 {
			break
		}
		i += j + 1
		if i >= 2 && body[i-2] == '\\' {
			continue // an escaped quote, inside a string
		}
		rest := body[i:]
		if len(rest) == 0 {
			break
		}
		switch rest[0] {
		case 'i':
			if hasName(rest, "image_url") || hasName(rest, "input_audio") {
				n |= nameMedia
			}
		case 'f':
			if hasName(rest, "file") {
				n |= nameMedia
			}
		case 'm':
			if hasName(rest, "max_tokens") || hasName(rest, "max_completion_tokens") {
				n |= nameMaxTokens
			}
		case 'n':
			if hasName(rest, "n") {
				n |= nameN
			}
		}
	}
	return n
}

// hasName reports whether b starts with name and a closing quote.
func hasName(b []byte, name string) bool {
	return len(b) > len(name) && string(b[:len(name)]) == name && b[len(name)] == '"'
}

// mediaParts walks the messages' content parts and returns the bytes of
// the media parts, to leave out, and their fixed token figures.
func mediaParts(body []byte) (skipped, tokens int64) {
	gjson.GetBytes(body, "messages").ForEach(func(_, m gjson.Result) bool {
		content := m.Get("content")
		if !content.IsArray() {
			return true
		}
		content.ForEach(func(_, part gjson.Result) bool {
			var t int64
			switch part.Get("type").String() {
			case "image_url":
				t = ImageTokens
				if part.Get("image_url.detail").String() == "low" {
					t = ImageLowTokens
				}
			case "input_audio":
				t = AudioTokens
			case "file":
				t = FileTokens
			default:
				return true
			}
			skipped += int64(len(part.Raw))
			tokens += t
			return true
		})
		return true
	})
	return skipped, tokens
}

// ReservationTokens returns the tokens to reserve for a chat or completion
// request: EstimatePromptTokens plus the longest answer the request
// allows, times its n (1 to MaxChoices). The answer is maxTokens when the
// caller parsed it (max_completion_tokens, else max_tokens), else the one
// in body, else defaultMax, else DefaultMaxTokens. Embeddings produce no
// answer: reserve EstimatePromptTokens alone for them.
func ReservationTokens(body []byte, maxTokens, defaultMax int64) int64 {
	names := scanNames(body)
	answer := maxTokens
	if answer <= 0 && names&nameMaxTokens != 0 {
		answer = bodyMaxTokens(body)
	}
	if answer <= 0 {
		answer = defaultMax
	}
	if answer <= 0 {
		answer = DefaultMaxTokens
	}
	answer = min(answer, 1<<40) // no overflow, whatever the client sent
	n := int64(1)
	if names&nameN != 0 {
		n = min(max(gjson.GetBytes(body, "n").Int(), 1), MaxChoices)
	}
	return estimate(body, names) + answer*n
}

// bodyMaxTokens returns the body's max_completion_tokens, else its
// max_tokens, else 0.
func bodyMaxTokens(body []byte) int64 {
	if v := gjson.GetBytes(body, "max_completion_tokens").Int(); v > 0 {
		return v
	}
	return gjson.GetBytes(body, "max_tokens").Int()
}
