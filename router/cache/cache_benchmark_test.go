package cache

import (
	"context"
	"testing"
	"time"

	pt "github.com/tollgate-gw/tollgate/provider/providertest"
)

func BenchmarkKey(b *testing.B) {
	body := pt.Fixture(b, "openai/request_tools_second_turn.json")
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Key(body, "chat-default", "c:cust_1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplay(b *testing.B) {
	body := pt.Fixture(b, "openai/response_tool_calls.json")
	e := &Entry{Body: body}
	for b.Loop() {
		if _, err := Replay(e, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryGetSet(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(1 << 20)
	e := &Entry{Body: make([]byte, 2048), PublicModel: "m"}
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for i := 0; b.Loop(); i++ {
		k := keys[i%len(keys)]
		if _, ok, _ := m.Get(ctx, k); !ok {
			_ = m.Set(ctx, k, e, time.Hour)
		}
	}
}
