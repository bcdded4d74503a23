package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// titanUpstream answers each InvokeModel call with a vector derived from
// the input's length.
func titanUpstream(t *testing.T) (*Adapter, *pt.Upstream) {
	t.Helper()
	up := pt.NewUpstream(t, func(r pt.Recorded) pt.Reply {
		var in titanRequest
		_ = json.Unmarshal(r.Body, &in)
		if in.InputText == "fail" {
			return pt.HTTP(t, readFixture(t, "bedrock/error_throttling_429.http"))
		}
		n := float64(len(in.InputText))
		out, _ := json.Marshal(titanResponse{Embedding: []float64{n, -n / 2, 0.25}, InputTextTokenCount: len(strings.Fields(in.InputText))})
		return pt.JSON(200, out)
	})
	return testAdapter(t, up.URL, &http.Transport{}, nil), up
}

func TestEmbeddings(t *testing.T) {
	a, up := titanUpstream(t)
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{
		Model: "amazon.titan-embed-text-v2:0", Body: readFixture(t, "openai/embeddings_request.json")})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"object":"list","model":"amazon.titan-embed-text-v2:0",
	  "data":[{"object":"embedding","index":0,"embedding":[23,-11.5,0.25]},{"object":"embedding","index":1,"embedding":[24,-12,0.25]}],
	  "usage":{"prompt_tokens":8,"total_tokens":8}}`
	if d := jsonEqual(t, resp.Body, []byte(want)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if resp.Usage != (provider.Usage{PromptTokens: 8, TotalTokens: 8}) || resp.Model != "amazon.titan-embed-text-v2:0" {
		t.Errorf("usage %+v model %q", resp.Usage, resp.Model)
	}
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream calls, want one per input", len(reqs))
	}
	for _, r := range reqs {
		if r.Path != "/model/amazon.titan-embed-text-v2:0/invoke" || !strings.Contains(string(r.Body), `"dimensions":4`) {
			t.Errorf("request %s %s", r.Path, r.Body)
		}
	}
}

func TestEmbeddingsBase64(t *testing.T) {
	a, _ := titanUpstream(t)
	resp, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{
		Model: "amazon.titan-embed-text-v1", Body: []byte(`{"model":"x","input":"abcd","encoding_format":"base64"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data []struct{ Embedding string }
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Data[0].Embedding)
	if err != nil || len(raw) != 12 {
		t.Fatalf("embedding %q: %v", out.Data[0].Embedding, err)
	}
	if f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4:])); f != -2 {
		t.Errorf("second value %v, want -2", f)
	}
}

func TestEmbeddingsRefusals(t *testing.T) {
	a, up := titanUpstream(t)
	tests := []struct {
		model, body, param string
	}{
		{"cohere.embed-english-v3", `{"input":"x"}`, "model"},
		{"amazon.titan-embed-text-v1", `{"input":"x","dimensions":256}`, "dimensions"},
		{"amazon.titan-embed-text-v2:0", `{"input":[1,2,3]}`, "input"},
		{"amazon.titan-embed-text-v2:0", `{"input":[[1,2],[3]]}`, "input"},
		{"amazon.titan-embed-text-v2:0", `{"input":[]}`, "input"},
	}
	for _, tc := range tests {
		t.Run(tc.model+" "+tc.param, func(t *testing.T) {
			_, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: tc.model, Body: []byte(tc.body)})
			pe := asProviderError(t, err)
			if pe.Kind != provider.KindInvalidRequest || pe.Status != 400 || pe.Param != tc.param {
				t.Errorf("got %+v, want 400 on %s", pe, tc.param)
			}
		})
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d refused requests reached the upstream", n)
	}
}

func TestEmbeddingsUpstreamError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, up := titanUpstream(t)
	inputs := make([]string, 20)
	for i := range inputs {
		inputs[i] = "ok"
	}
	inputs[3] = "fail"
	body, _ := json.Marshal(map[string]any{"input": inputs})
	_, err := a.Embeddings(context.Background(), &provider.EmbeddingsRequest{Model: "amazon.titan-embed-text-v2:0", Body: body})
	if pe := asProviderError(t, err); pe.Kind != provider.KindRateLimited {
		t.Errorf("kind %v", pe.Kind)
	}
	up.Close()
	a.transport.(*http.Transport).CloseIdleConnections()
}

func TestTitanVersion(t *testing.T) {
	for model, want := range map[string][2]bool{
		"amazon.titan-embed-text-v2:0":                                             {true, true},
		"amazon.titan-embed-text-v1":                                               {false, true},
		"amazon.titan-embed-g1-text-02":                                            {false, true},
		"arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0": {true, true},
		"amazon.titan-embed-image-v1":                                              {false, false},
		"cohere.embed-english-v3":                                                  {false, false},
	} {
		v2, ok := titanVersion(model)
		if v2 != want[0] || ok != want[1] {
			t.Errorf("titanVersion(%q) = %v, %v", model, v2, ok)
		}
	}
}
