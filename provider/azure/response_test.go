package azure

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tidwall/sjson"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func TestResponseGoldens(t *testing.T) {
	tests := []struct {
		name, fixture string
		model         string
		usage         provider.Usage
	}{
		{"response_text", "azure/response_text.json", "gpt-4o-mini-2024-07-18",
			provider.Usage{PromptTokens: 22, CompletionTokens: 12, TotalTokens: 34}},
		{"response_output_filtered", "azure/response_output_filtered.json", "gpt-4o-mini-2024-07-18",
			provider.Usage{PromptTokens: 19, CompletionTokens: 35, TotalTokens: 54}},
		{"response_tool_calls", "openai/response_tool_calls.json", "gpt-4o-mini-2024-07-18",
			provider.Usage{PromptTokens: 1408, CompletionTokens: 54, TotalTokens: 1462, CachedTokens: 1280}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			answer := fixture(t, tc.fixture)
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, answer) })
			a := newTestAdapter(t, up.URL, "2024-10-21")
			resp, err := a.ChatCompletion(context.Background(), &provider.ChatRequest{Model: "d",
				Body: []byte(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)})
			if err != nil {
				t.Fatal(err)
			}
			// Azure's answers go to the client as Azure sent them, filter
			// annotations and all.
			if !bytes.Equal(resp.Body, answer) {
				t.Error("the answer was changed on the way back")
			}
			goldenJSON(t, tc.name+".json", withoutCreated(t, resp.Body))
			if resp.Model != tc.model {
				t.Errorf("model %q", resp.Model)
			}
			if diff := cmp.Diff(tc.usage, resp.Usage); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
		})
	}
}

// withoutCreated drops the timestamp, which goldens do not pin.
func withoutCreated(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := sjson.DeleteBytes(b, "created")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
