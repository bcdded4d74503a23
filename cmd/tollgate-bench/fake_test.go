package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFakeNonStream(t *testing.T) {
	f := newFakeHandler()
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, chatPath, bytes.NewReader(chatBody("fake-model", "hi", false))))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.Bytes()
	if n := len(body); n < 300 || n > 500 {
		t.Errorf("completion is %d bytes, want about 400", n)
	}
	var c struct {
		Object  string `json:"object"`
		Choices []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		}
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("completion is not JSON: %v", err)
	}
	if c.Object != "chat.completion" || len(c.Choices) != 1 || c.Choices[0].Message.Content == "" ||
		c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens == 0 {
		t.Errorf("odd completion: %+v", c)
	}
}

// streamEvents runs one streaming request through the fake and returns
// the data payloads of its events.
func streamEvents(t *testing.T, body []byte) []string {
	t.Helper()
	rec := httptest.NewRecorder()
	newFakeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, chatPath, bytes.NewReader(body)))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !rec.Flushed {
		t.Error("stream was not flushed")
	}
	var events []string
	for _, ev := range strings.Split(strings.TrimSuffix(rec.Body.String(), "\n\n"), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok {
			t.Fatalf("event without data: %q", ev)
		}
		events = append(events, data)
	}
	return events
}

func TestFakeStream(t *testing.T) {
	events := streamEvents(t, chatBody("fake-model", "hi", true)) // asks for usage
	if len(events) != 9 {
		t.Fatalf("got %d events, want role + 5 content + finish + usage + [DONE]:\n%s", len(events), strings.Join(events, "\n"))
	}
	if events[8] != "[DONE]" {
		t.Errorf("last event %q, want [DONE]", events[8])
	}
	for i, ev := range events[:8] {
		var c struct {
			Object  string
			Choices []struct {
				Delta        map[string]string
				FinishReason *string `json:"finish_reason"`
			}
			Usage *struct{ TotalTokens int }
		}
		if err := json.Unmarshal([]byte(ev), &c); err != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("event %d %q: %v", i, ev, err)
		}
		switch {
		case i == 0 && c.Choices[0].Delta["role"] != "assistant":
			t.Errorf("first event has no role: %s", ev)
		case i >= 1 && i <= 5 && c.Choices[0].Delta["content"] == "":
			t.Errorf("event %d has no content: %s", i, ev)
		case i == 6 && (c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "stop"):
			t.Errorf("event 6 is not the finish chunk: %s", ev)
		case i == 7 && (len(c.Choices) != 0 || c.Usage == nil):
			t.Errorf("event 7 is not the usage chunk: %s", ev)
		}
	}
	noUsage := []byte(`{"model":"m","messages":[],"stream": true}`)
	if events := streamEvents(t, noUsage); len(events) != 8 || strings.Contains(events[6], "usage") {
		t.Errorf("without include_usage got %d events, want 8 without usage", len(events))
	}
}

func TestFakeLatencyAndNotFound(t *testing.T) {
	f := newFakeHandler()
	f.SetDelays(30*time.Millisecond, 0)
	start := time.Now()
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, chatPath, strings.NewReader(`{}`)))
	if took := time.Since(start); took < 30*time.Millisecond || rec.Code != http.StatusOK {
		t.Errorf("answered %d after %v, want 200 after at least 30ms", rec.Code, took)
	}
	rec = httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("unknown path answered %d", rec.Code)
	}
}
