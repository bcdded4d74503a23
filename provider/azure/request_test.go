package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/tollgate-gw/tollgate/provider"
	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

// goldenJSON compares got with testdata/golden/name as parsed JSON, or
// rewrites the file under -update.
func goldenJSON(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		var v any
		if err := json.Unmarshal(got, &v); err != nil {
			t.Fatalf("golden %s: %v", name, err)
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run with -update)", name, err)
	}
	sameJSON(t, "golden "+name, want, got)
}

// goldenVersions are the api-versions every request fixture is translated
// for: before every gated feature, the current GA, a recent preview, v1.
var goldenVersions = []string{"2024-06-01", "2024-10-21", "2025-04-01-preview", "v1"}

func TestRequestGoldens(t *testing.T) {
	names, err := filepath.Glob("testdata/openai/request_*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no request fixtures: %v", err)
	}
	for _, in := range names {
		base := strings.TrimSuffix(filepath.Base(in), ".json")
		for _, version := range goldenVersions {
			t.Run(base+"/"+version, func(t *testing.T) {
				body := fixture(t, "openai/"+base+".json")
				stream := gjson.GetBytes(body, "stream").Bool()
				up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply {
					if stream {
						return pt.SSE(fixture(t, "azure/stream_text.sse"))
					}
					return pt.JSON(200, fixture(t, "azure/response_text.json"))
				})
				a := newTestAdapter(t, up.URL, version)
				req := &provider.ChatRequest{Model: "my-deployment", Body: body, Stream: stream}
				var got []byte
				err := send(a, req)
				if pe, ok := provider.AsError(err); ok && pe.Kind == provider.KindInvalidRequest {
					// A refusal is part of the translation table.
					got = fmt.Appendf(nil, `{"refused":{"status":%d,"param":%q,"code":%q}}`, pe.Status, pe.Param, pe.Code)
					if n := len(up.Requests()); n != 0 {
						t.Errorf("a refused request reached the upstream %d times", n)
					}
				} else if err != nil {
					t.Fatal(err)
				} else {
					got = up.Requests()[0].Body
				}
				if string(body) != string(fixture(t, "openai/"+base+".json")) {
					t.Error("the client's body was modified in place")
				}
				goldenJSON(t, base+"."+version+".json", got)
			})
		}
	}
}

// send runs one request, reading a stream to its end.
func send(a *Adapter, req *provider.ChatRequest) error {
	if !req.Stream {
		_, err := a.ChatCompletion(context.Background(), req)
		return err
	}
	s, err := a.ChatCompletionStream(context.Background(), req)
	if err != nil {
		return err
	}
	defer s.Close()
	for err == nil {
		_, err = s.Next()
	}
	if err == io.EOF {
		return nil
	}
	return err
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		version, field, param string
	}{
		{"v1", `"web_search_options":{}`, "web_search_options"},
		{"2025-04-01-preview", `"web_search_options":{"search_context_size":"low"}`, "web_search_options"},
		{"2024-07-01-preview", `"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}}`, "response_format"},
		{"2024-08-01-preview", `"parallel_tool_calls":false`, "parallel_tool_calls"},
		{"2024-10-21", `"reasoning_effort":"low"`, "reasoning_effort"},
		{"2024-10-21", `"prediction":{"type":"content","content":"x"}`, "prediction"},
		{"2024-12-01-preview", `"audio":{"voice":"alloy","format":"wav"}`, "audio"},
		{"2024-12-01-preview", `"modalities":["text","audio"]`, "modalities"},
	}
	for _, tc := range tests {
		t.Run(tc.param+"/"+tc.version, func(t *testing.T) {
			up := pt.NewUpstream(t, func(pt.Recorded) pt.Reply { return pt.JSON(200, fixture(t, "azure/response_text.json")) })
			a := newTestAdapter(t, up.URL, tc.version)
			body := `{"model":"m","messages":[{"role":"user","content":"hi"}],` + tc.field + `}`
			for _, stream := range []bool{false, true} {
				var err error
				req := &provider.ChatRequest{Model: "d", Body: []byte(body), Stream: stream}
				if stream {
					_, err = a.ChatCompletionStream(context.Background(), req)
				} else {
					_, err = a.ChatCompletion(context.Background(), req)
				}
				pe, ok := provider.AsError(err)
				if !ok || pe.Kind != provider.KindInvalidRequest || pe.Status != 400 || pe.Param != tc.param ||
					pe.Type != "invalid_request_error" || !strings.Contains(pe.Message, tc.param) {
					t.Fatalf("err = %#v, want a 400 naming %s", err, tc.param)
				}
			}
			if len(up.Requests()) != 0 {
				t.Error("a refused request reached the upstream")
			}
		})
	}
}

func TestEditChat(t *testing.T) {
	tests := []struct {
		name, version, in, want string
	}{
		{"classic drops model", "2024-10-21",
			`{"model":"d","messages":[]}`, `{"messages":[]}`},
		{"v1 keeps model", "v1",
			`{"model":"d","messages":[]}`, `{"model":"d","messages":[]}`},
		{"max_completion_tokens kept from 2024-09-01-preview", "2024-09-01-preview",
			`{"max_completion_tokens":5,"stream_options":{"include_usage":true},"parallel_tool_calls":false}`,
			`{"max_completion_tokens":5,"stream_options":{"include_usage":true},"parallel_tool_calls":false}`},
		{"max_completion_tokens renamed before", "2024-08-01-preview",
			`{"max_completion_tokens":5,"stream_options":{"include_usage":true},"parallel_tool_calls":true}`,
			`{"max_tokens":5}`},
		{"max_tokens wins over max_completion_tokens before", "2024-06-01",
			`{"max_tokens":7,"max_completion_tokens":5,"parallel_tool_calls":null}`, `{"max_tokens":7}`},
		{"developer becomes system before 2024-12-01-preview", "2024-10-21",
			`{"messages":[{"role":"developer","content":"a"},{"role":"user","content":"b"},{"role":"developer","content":"c"}],"store":true,"metadata":{"k":"v"}}`,
			`{"messages":[{"role":"system","content":"a"},{"role":"user","content":"b"},{"role":"system","content":"c"}]}`},
		{"developer kept from 2024-12-01-preview", "2024-12-01-preview",
			`{"messages":[{"role":"developer","content":"a"}],"store":true,"metadata":{"k":"v"},"reasoning_effort":"high"}`,
			`{"messages":[{"role":"developer","content":"a"}],"store":true,"metadata":{"k":"v"},"reasoning_effort":"high"}`},
		{"safety_identifier becomes user on dated versions", "2025-04-01-preview",
			`{"safety_identifier":"u1","service_tier":"priority"}`, `{"user":"u1"}`},
		{"user wins over safety_identifier", "2025-04-01-preview",
			`{"safety_identifier":"u1","user":"u2"}`, `{"user":"u2"}`},
		{"v1 keeps safety_identifier and service_tier", "v1",
			`{"safety_identifier":"u1","service_tier":"priority"}`, `{"safety_identifier":"u1","service_tier":"priority"}`},
		{"text-only modalities dropped before 2025-01-01-preview", "2024-12-01-preview",
			`{"modalities":["text"]}`, `{}`},
		{"audio kept from 2025-01-01-preview", "2025-01-01-preview",
			`{"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},"prediction":{"type":"content","content":"x"}}`,
			`{"modalities":["text","audio"],"audio":{"voice":"alloy","format":"wav"},"prediction":{"type":"content","content":"x"}}`},
		{"unknown fields pass", "2024-06-01",
			`{"data_sources":[{"type":"azure_search"}],"logit_bias":{"1":2},"n":2,"seed":1,"functions":[{"name":"f"}]}`,
			`{"data_sources":[{"type":"azure_search"}],"logit_bias":{"1":2},"n":2,"seed":1,"functions":[{"name":"f"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseAPIVersion(tc.version)
			if err != nil {
				t.Fatal(err)
			}
			in := []byte(tc.in)
			got, err := editChat("az", v, in)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "edited body", []byte(tc.want), got)
			if string(in) != tc.in {
				t.Error("input modified in place")
			}
		})
	}
}

func TestAPIVersionHas(t *testing.T) {
	tests := []struct {
		version, since string
		want           bool
	}{
		{"2024-08-01-preview", sinceMaxCompletionTokens, false},
		{"2024-09-01-preview", sinceMaxCompletionTokens, true},
		{"2024-10-21", sinceMaxCompletionTokens, true},
		{"2024-10-21", sinceDeveloper, false},
		{"2025-04-01-preview", sinceAudio, true},
		{"v1", sinceAudio, true},
		{"preview", sinceJSONSchema, true},
	}
	for _, tc := range tests {
		v, err := parseAPIVersion(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.has(tc.since); got != tc.want {
			t.Errorf("%s has %s = %v, want %v", tc.version, tc.since, got, tc.want)
		}
	}
}
