package gemini

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
	"github.com/tollgate-gw/tollgate/provider/providertest/servertest"
)

// embedUpstream answers batchEmbedContents with vector [i, -i/2] for the
// i-th request of each call.
func embedUpstream(t *testing.T) *pt.Upstream {
	return pt.NewUpstream(t, func(r pt.Recorded) pt.Reply {
		var req batchEmbedRequest
		if err := json.Unmarshal(r.Body, &req); err != nil {
			return pt.JSON(400, []byte(`{"error":{"code":400,"message":"bad body","status":"INVALID_ARGUMENT"}}`))
		}
		var b strings.Builder
		b.WriteString(`{"embeddings":[`)
		for i := range req.Requests {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"values":[%d,%g]}`, i, float64(-i)/2)
		}
		b.WriteString(`]}`)
		return pt.JSON(200, []byte(b.String()))
	})
}

func TestEmbeddings(t *testing.T) {
	up := embedUpstream(t)
	a := newTestAdapter(t, up.URL, nil)
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "gemini-embedding-001",
		Body: []byte(`{"model":"public","input":["hello world","good bye"],"dimensions":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0,0]},{"object":"embedding","index":1,"embedding":[1,-0.5]}],"model":"gemini-embedding-001","usage":{"prompt_tokens":4,"total_tokens":4}}`
	if string(resp.Body) != want {
		t.Errorf("body\n%s\nwant\n%s", resp.Body, want)
	}
	if resp.Usage != (provider.Usage{PromptTokens: 4, TotalTokens: 4, Estimated: true}) {
		t.Errorf("usage %+v", resp.Usage)
	}
	reqs := up.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1beta/models/gemini-embedding-001:batchEmbedContents" || reqs[0].Header.Get("X-Goog-Api-Key") != testKey {
		t.Fatalf("requests %+v", reqs)
	}
	wantReq := `{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello world"}]},"outputDimensionality":2},{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"good bye"}]},"outputDimensionality":2}]}`
	if string(reqs[0].Body) != wantReq {
		t.Errorf("upstream body\n%s\nwant\n%s", reqs[0].Body, wantReq)
	}
}

func TestEmbeddingsBase64AndBatches(t *testing.T) {
	up := embedUpstream(t)
	a := newTestAdapter(t, up.URL, nil)
	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("%q", fmt.Sprint("text ", i))
	}
	body := `{"model":"public","encoding_format":"base64","input":[` + strings.Join(inputs, ",") + `]}`
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "models/gemini-embedding-001", Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(up.Requests()); n != 2 {
		t.Errorf("%d upstream calls for 150 inputs, want 2", n)
	}
	var out struct {
		Data []struct {
			Index     int
			Embedding string
		}
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Data) != 150 || out.Data[149].Index != 149 {
		t.Fatalf("%d vectors", len(out.Data))
	}
	// Input 101 is the second of the second call: [1, -0.5].
	raw, err := base64.StdEncoding.DecodeString(out.Data[101].Embedding)
	if err != nil || len(raw) != 8 {
		t.Fatalf("embedding %q: %v", out.Data[101].Embedding, err)
	}
	if x, y := math.Float32frombits(binary.LittleEndian.Uint32(raw)), math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])); x != 1 || y != -0.5 {
		t.Errorf("decoded %v %v", x, y)
	}
	if resp.Usage.PromptTokens != 300 {
		t.Errorf("usage %+v", resp.Usage)
	}
}

func TestEmbeddingsRefusesTokenIDs(t *testing.T) {
	a := newTestAdapter(t, "http://127.0.0.1:1", nil)
	for _, body := range []string{`{"model":"m","input":[1,2,3]}`, `{"model":"m","input":[[1,2]]}`, `{"model":"m","input":[]}`} {
		_, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "m", Body: []byte(body)})
		if pe, ok := provider.AsError(err); !ok || pe.Param != "input" || pe.Status != 400 {
			t.Errorf("%s: err = %v", body, err)
		}
	}
}

func TestEmbeddingsError(t *testing.T) {
	up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply {
		return pt.JSON(429, readTestdata(t, "gemini/error_rate_limit_429.json"))
	})
	a := newTestAdapter(t, up.URL, nil)
	_, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "m", Body: []byte(`{"model":"m","input":"x"}`)})
	if pe, ok := provider.AsError(err); !ok || pe.Kind != provider.KindRateLimited {
		t.Errorf("err = %v", err)
	}
}

func TestEndToEndEmbeddings(t *testing.T) {
	up := embedUpstream(t)
	url := servertest.Start(t, "gemini", newTestAdapter(t, up.URL, nil))
	resp, err := servertest.Client(url).CreateEmbeddings(context.Background(), goopenai.EmbeddingRequestStrings{
		Input: []string{"a", "b"}, Model: "gemini/gemini-embedding-001",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || resp.Data[1].Embedding[0] != 1 || resp.Data[1].Embedding[1] != -0.5 || resp.Usage.PromptTokens != 2 {
		t.Errorf("answer %+v", resp)
	}
}
