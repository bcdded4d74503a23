package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate-gw/tollgate/provider"
	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// embedConcurrency bounds the InvokeModel calls of one embeddings request
// in flight at once.
const embedConcurrency = 4

// embeddingsRequest is the part of an OpenAI embeddings request Titan can
// honour.
type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     *int            `json:"dimensions"`
}

// embeddingsList is OpenAI's embeddings answer.
type embeddingsList struct {
	Object string          `json:"object"`
	Data   []embeddingItem `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingsUsage `json:"usage"`
}

// embeddingItem is one vector: numbers, or base64 float32s.
type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"`
}

// embeddingsUsage counts the prompt tokens of all inputs.
type embeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// Embeddings implements provider.Embedder for Amazon Titan text embedding
// models: one InvokeModel call per input, at most embedConcurrency at a
// time.
func (a *Adapter) Embeddings(ctx context.Context, req *provider.EmbeddingsRequest) (*provider.EmbeddingsResponse, error) {
	var er embeddingsRequest
	if err := json.Unmarshal(req.Body, &er); err != nil {
		return nil, a.invalid("", "the embeddings request could not be decoded: %v", err)
	}
	v2, ok := titanVersion(req.Model)
	if !ok {
		return nil, openaiwire.Unsupported(a.name, "model",
			"bedrock embeddings support the Amazon Titan text embedding models only, not %q", req.Model)
	}
	if er.Dimensions != nil && !v2 {
		return nil, openaiwire.Unsupported(a.name, "dimensions", "model %q has a fixed number of dimensions", req.Model)
	}
	inputs, err := a.embeddingInputs(er.Input)
	if err != nil {
		return nil, err
	}
	results, err := a.embedAll(ctx, req.Model, inputs, er.Dimensions)
	if err != nil {
		return nil, err
	}
	out := embeddingsList{Object: "list", Data: make([]embeddingItem, len(results)), Model: req.Model}
	for i, r := range results {
		item := embeddingItem{Object: "embedding", Index: i, Embedding: r.Embedding}
		if er.EncodingFormat == "base64" {
			item.Embedding = base64Floats(r.Embedding)
		}
		out.Data[i] = item
		out.Usage.PromptTokens += r.InputTextTokenCount
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("bedrock: encode embeddings: %w", err)
	}
	u := provider.Usage{PromptTokens: out.Usage.PromptTokens, TotalTokens: out.Usage.TotalTokens}
	return &provider.EmbeddingsResponse{Body: body, Model: req.Model, Usage: u}, nil
}

// titanVersion recognises a Titan text embedding model id (or an ARN or
// profile naming one) and reports whether it is v2, which takes
// dimensions.
func titanVersion(model string) (v2, ok bool) {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "amazon.titan-embed-text-v2"):
		return true, true
	case strings.Contains(m, "amazon.titan-embed-text-v1"), strings.Contains(m, "amazon.titan-embed-g1-text"):
		return false, true
	}
	return false, false
}

// embeddingInputs reads input: a string or an array of strings. Token
// arrays cannot be sent to Titan, which takes text.
func (a *Adapter) embeddingInputs(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) == 0 {
		return nil, openaiwire.Unsupported(a.name, "input",
			"bedrock embeddings take text: input must be a string or an array of strings, not token ids")
	}
	return many, nil
}

// embedAll embeds every input, keeping their order; the first failure
// cancels the calls still running.
func (a *Adapter) embedAll(ctx context.Context, model string, inputs []string, dims *int) ([]titanResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]titanResponse, len(inputs))
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	sem := make(chan struct{}, embedConcurrency)
	u := modelURL(a.base, model, "invoke")
	for i, text := range inputs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := a.embedOne(ctx, u, titanRequest{InputText: text, Dimensions: dims})
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
				return
			}
			results[i] = r
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("bedrock: embeddings: %w", context.Cause(ctx))
	}
	return results, firstErr
}

// embedOne makes one InvokeModel call.
func (a *Adapter) embedOne(ctx context.Context, u string, tr titanRequest) (titanResponse, error) {
	var out titanResponse
	body, err := json.Marshal(tr)
	if err != nil {
		return out, fmt.Errorf("bedrock: encode embedding request: %w", err)
	}
	resp, err := a.post(ctx, u, body, contentTypeJSON)
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp, maxResponseBytes)
	if err != nil {
		return out, a.transportError(ctx, "read response", err)
	}
	if resp.StatusCode != http.StatusOK {
		return out, a.statusError(resp.StatusCode, resp.Header, data)
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Embedding) == 0 {
		return out, &provider.Error{Provider: a.name, Kind: provider.KindServer,
			Message: fmt.Sprintf("provider %q sent an answer that is not a Titan embedding", a.name), Err: err}
	}
	return out, nil
}

// base64Floats encodes v as little-endian float32s in base64, as OpenAI's
// encoding_format "base64" does.
func base64Floats(v []float64) string {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(raw)
}
