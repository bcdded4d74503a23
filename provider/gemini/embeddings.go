package gemini

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// maxEmbedBatch is the most inputs one batchEmbedContents call takes;
// longer input lists are sent in several calls, in order.
const maxEmbedBatch = 100

// Embeddings implements provider.Embedder with batchEmbedContents. input
// (a string or an array of strings) and dimensions (→
// outputDimensionality) are translated; token-id inputs are refused, as
// Gemini takes only text. encoding_format base64 yields little-endian
// float32 bytes, as OpenAI sends them. Gemini reports no token counts, so
// the prompt tokens are counted locally and marked Estimated.
func (a *Adapter) Embeddings(ctx context.Context, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, error) {
	root := gjson.ParseBytes(req.Body)
	inputs, err := a.embeddingInputs(root.Get("input"))
	if err != nil {
		return nil, err
	}
	var dims *int
	if d := root.Get("dimensions"); d.Exists() && d.Type != gjson.Null {
		n := int(d.Int())
		dims = &n
	}
	b64 := root.Get("encoding_format").String() == "base64"

	vectors := make([][]float64, 0, len(inputs))
	for start := 0; start < len(inputs); start += maxEmbedBatch {
		end := min(start+maxEmbedBatch, len(inputs))
		vs, err := a.embedBatch(ctx, req.Model, inputs[start:end], dims)
		if err != nil {
			return nil, err
		}
		vectors = append(vectors, vs...)
	}
	tokens := 0
	for _, in := range inputs {
		tokens += a.countText(req.Model, in)
	}
	return &provider.EmbeddingsResponse{
		Body:  embeddingsBody(vectors, req.Model, tokens, b64),
		Model: req.Model,
		Usage: provider.Usage{PromptTokens: tokens, TotalTokens: tokens, Estimated: true},
	}, nil
}

// embeddingInputs reads input: a string or an array of strings.
func (a *Adapter) embeddingInputs(in gjson.Result) ([]string, error) {
	if in.Type == gjson.String {
		return []string{in.Str}, nil
	}
	if !in.IsArray() {
		return nil, openaiwire.Unsupported(a.name, "input", "gemini: input must be a string or an array of strings")
	}
	items := in.Array()
	out := make([]string, 0, len(items))
	for _, it := range items {
		if it.Type != gjson.String {
			return nil, openaiwire.Unsupported(a.name, "input", "gemini: embeddings of token ids are not supported; send text")
		}
		out = append(out, it.Str)
	}
	if len(out) == 0 {
		return nil, openaiwire.Unsupported(a.name, "input", "gemini: input must not be empty")
	}
	return out, nil
}

// embedBatch embeds up to maxEmbedBatch texts in one call.
func (a *Adapter) embedBatch(ctx context.Context, model string, texts []string, dims *int) ([][]float64, error) {
	name := "models/" + trimModelsPrefix(model)
	breq := batchEmbedRequest{Requests: make([]embedRequest, len(texts))}
	for i, t := range texts {
		breq.Requests[i] = embedRequest{Model: name, Content: content{Parts: []part{textPart(t)}}, OutputDimensionality: dims}
	}
	body, err := marshal(breq)
	if err != nil {
		return nil, fmt.Errorf("gemini: encode embeddings request: %w", err)
	}
	resp, err := a.post(ctx, a.modelURL(model, "batchEmbedContents"), body, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return nil, a.transportError(ctx, "read embeddings", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, a.statusError(resp.StatusCode, resp.Header, data)
	}
	var out batchEmbedResponse
	if err := json.Unmarshal(data, &out); err != nil || len(out.Embeddings) != len(texts) {
		return nil, &provider.Error{Provider: a.name, Kind: provider.KindServer, Status: http.StatusBadGateway,
			Message: fmt.Sprintf("provider %q sent an unusable embeddings answer", a.name), Err: err}
	}
	vs := make([][]float64, len(out.Embeddings))
	for i, e := range out.Embeddings {
		vs[i] = e.Values
	}
	return vs, nil
}

// embeddingsBody encodes OpenAI's embeddings list.
func embeddingsBody(vectors [][]float64, model string, tokens int, b64 bool) []byte {
	size := 96
	for _, v := range vectors {
		size += 64 + 20*len(v)
	}
	b := append(make([]byte, 0, size), `{"object":"list","data":[`...)
	for i, v := range vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		if b64 {
			b = appendBase64Floats(b, v)
		} else {
			b = appendFloats(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = openaiwire.AppendString(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	return append(b, `}}`...)
}

// appendFloats appends a JSON array of numbers.
func appendFloats(b []byte, v []float64) []byte {
	b = append(b, '[')
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return append(b, ']')
}

// appendBase64Floats appends v as a JSON string holding the base64 of its
// little-endian float32 values.
func appendBase64Floats(b []byte, v []float64) []byte {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"')
}

// trimModelsPrefix drops a "models/" prefix from a model name.
func trimModelsPrefix(model string) string {
	return strings.TrimPrefix(model, "models/")
}
