package mock

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
)

// Dimensions is the length of every mock embedding vector.
const Dimensions = 16

// embeddingInput is one input of an embeddings request.
type embeddingInput struct {
	text string // the text, or the token ids as "1,2,3"
	ids  int    // number of token ids; -1 for text
}

// Embeddings returns a deterministic, normalised 16-dimensional vector per
// input, derived from a SHA-256 of the input, after MockConfig.Latency.
// Text inputs count their tokens with the TokenCounter, token-id inputs
// one token per id. encoding_format "base64" yields little-endian float32
// bytes in base64, as OpenAI does.
func (a *Adapter) Embeddings(ctx context.Context, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, error) {
	if err := a.injectFailure(); err != nil {
		return nil, err
	}
	if err := sleep(ctx, a.cfg.Mock.Latency); err != nil {
		return nil, err
	}
	root := gjson.ParseBytes(req.Body)
	inputs := embeddingInputs(root.Get("input"))
	b64 := root.Get("encoding_format").String() == "base64"

	b := append(make([]byte, 0, 64+len(inputs)*(60+Dimensions*12)), '{')
	b = appendStr(b, "object", "list")
	b = append(appendKey(b, "data"), '[')
	tokens := 0
	for i, in := range inputs {
		if in.ids >= 0 {
			tokens += in.ids
		} else {
			tokens += a.tokens.CountText(req.Model, in.text)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendStr(b, "object", "embedding")
		b = appendInt(b, "index", int64(i))
		b = appendEmbedding(appendKey(b, "embedding"), vector(in.text), b64)
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendStr(b, "model", req.Model)
	b = append(appendKey(b, "usage"), '{')
	b = appendInt(b, "prompt_tokens", int64(tokens))
	b = appendInt(b, "total_tokens", int64(tokens))
	b = append(b, '}', '}')
	return &provider.EmbeddingsResponse{Body: b, Model: req.Model, Usage: usage(tokens, 0)}, nil
}

// embeddingInputs reads input: a string, an array of strings, an array of
// token ids (one input) or an array of token-id arrays.
func embeddingInputs(in gjson.Result) []embeddingInput {
	if in.Type == gjson.String {
		return []embeddingInput{{text: in.Str, ids: -1}}
	}
	if !in.IsArray() {
		return []embeddingInput{{text: in.Raw, ids: -1}}
	}
	items := in.Array()
	for _, it := range items {
		if it.Type == gjson.Number {
			return []embeddingInput{tokenIDs(in)}
		}
	}
	inputs := make([]embeddingInput, 0, len(items))
	for _, it := range items {
		switch {
		case it.Type == gjson.String:
			inputs = append(inputs, embeddingInput{text: it.Str, ids: -1})
		case it.IsArray():
			inputs = append(inputs, tokenIDs(it))
		default:
			inputs = append(inputs, embeddingInput{text: it.Raw, ids: -1})
		}
	}
	return inputs
}

// tokenIDs reads an array of token ids as one input, hashed in a
// canonical "1,2,3" form so that JSON spacing does not matter.
func tokenIDs(arr gjson.Result) embeddingInput {
	var b []byte
	n := 0
	arr.ForEach(func(_, id gjson.Result) bool {
		if n > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id.Int(), 10)
		n++
		return true
	})
	return embeddingInput{text: string(b), ids: n}
}

// vector derives a unit vector from text.
func vector(text string) [Dimensions]float32 {
	sum := sha256.Sum256([]byte(text))
	var v [Dimensions]float64
	norm := 0.0
	for i := range v {
		u := binary.LittleEndian.Uint16(sum[2*i:])
		v[i] = float64(u)/32767.5 - 1
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	var out [Dimensions]float32
	for i := range v {
		if norm > 0 {
			out[i] = float32(v[i] / norm)
		}
	}
	return out
}

// appendEmbedding appends v as a JSON array of numbers or, if b64, as a
// base64 string of little-endian float32 values.
func appendEmbedding(b []byte, v [Dimensions]float32, b64 bool) []byte {
	if b64 {
		var raw [Dimensions * 4]byte
		for i, f := range v {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, raw[:])
		return append(b, '"')
	}
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return append(b, ']')
}
