package mock

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tollgate-gw/tollgate/provider"
)

// embed runs an embeddings request and decodes it with go-openai, for
// either encoding.
func embed(t *testing.T, body string) (*provider.EmbeddingsResponse, openai.EmbeddingResponse) {
	t.Helper()
	a := newMock(t, provider.MockConfig{})
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "text-embedding-3-small", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	var out openai.EmbeddingResponse
	var b64 openai.EmbeddingResponseBase64
	if err := json.Unmarshal(resp.Body, &b64); err == nil {
		out, err = b64.ToEmbeddingResponse()
		if err != nil {
			t.Fatal(err)
		}
	} else if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatalf("invalid JSON %s: %v", resp.Body, err)
	}
	return resp, out
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		n      int
		tokens int
	}{
		{"string", `{"input":"hello world"}`, 1, counter.CountText("text-embedding-3-small", "hello world")},
		{"fixture", fixture(t, "embeddings_request.json"), 2,
			counter.CountText("text-embedding-3-small", "The food was delicious.") + counter.CountText("text-embedding-3-small", "The waiter was friendly.")},
		{"token ids", `{"input":[1,2,3]}`, 1, 3},
		{"token id arrays", `{"input":[[1,2],[3]]}`, 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, out := embed(t, tt.body)
			if out.Object != "list" || out.Model != "text-embedding-3-small" || len(out.Data) != tt.n {
				t.Fatalf("got %+v", out)
			}
			for i, d := range out.Data {
				if d.Index != i || d.Object != "embedding" || len(d.Embedding) != Dimensions {
					t.Errorf("data %d: %+v", i, d)
				}
				norm := 0.0
				for _, f := range d.Embedding {
					norm += float64(f) * float64(f)
				}
				if math.Abs(norm-1) > 1e-5 {
					t.Errorf("data %d: |v|² = %v", i, norm)
				}
			}
			want := provider.Usage{PromptTokens: tt.tokens, TotalTokens: tt.tokens}
			if diff := cmp.Diff(want, resp.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if out.Usage.PromptTokens != tt.tokens || out.Usage.TotalTokens != tt.tokens {
				t.Errorf("body usage %+v", out.Usage)
			}
		})
	}
}

func TestEmbeddingsEncodings(t *testing.T) {
	_, floats := embed(t, `{"input":["a","b","a"],"encoding_format":"float"}`)
	resp, b64 := embed(t, `{"input":["a","b","a"],"encoding_format":"base64"}`)
	var raw struct {
		Data []struct{ Embedding any }
	}
	if err := json.Unmarshal(resp.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw.Data[0].Embedding.(string); !ok {
		t.Fatalf("base64 embedding is %T", raw.Data[0].Embedding)
	}
	// Both encodings carry the same float32 values, bit for bit.
	if diff := cmp.Diff(floats.Data, b64.Data); diff != "" {
		t.Errorf("float vs base64 (-float +base64):\n%s", diff)
	}
	if !cmp.Equal(floats.Data[0].Embedding, floats.Data[2].Embedding) || cmp.Equal(floats.Data[0].Embedding, floats.Data[1].Embedding) {
		t.Error("vectors are not a function of the input")
	}
	// JSON spacing of token ids does not change the vector.
	_, x := embed(t, `{"input":[1,2,3]}`)
	_, y := embed(t, `{"input":[ 1, 2, 3 ]}`)
	if !cmp.Equal(x.Data, y.Data) {
		t.Error("token-id vectors depend on spacing")
	}
}
