package limits

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/metering/tokens"
)

// prompt4k is a chat body of about 4,000 prompt tokens of English.
func prompt4k(b *testing.B) []byte {
	b.Helper()
	body := chat(b, "You are a helpful assistant.", strings.Repeat(english, 41))
	if n := tokens.New().CountChat("gpt-4o", body); n < 3900 || n > 4100 {
		b.Fatalf("benchmark prompt has %d tokens, want about 4,000", n)
	}
	return body
}

func BenchmarkEstimatePromptTokens(b *testing.B) {
	body := prompt4k(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		EstimatePromptTokens(body)
	}
}

func BenchmarkReservationTokens(b *testing.B) {
	body := prompt4k(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		ReservationTokens(body, 0, 0)
	}
}

// BenchmarkCountChatTiktoken is the exact count the estimate replaces, for
// comparison.
func BenchmarkCountChatTiktoken(b *testing.B) {
	body := prompt4k(b)
	c := tokens.New()
	c.CountChat("gpt-4o", body) // load the encoding outside the timer
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		c.CountChat("gpt-4o", body)
	}
}

// benchPolicy sets every limit, high enough never to refuse.
var benchPolicy = Policy{RPM: 1 << 40, RPD: 1 << 40, TPM: 1 << 50, TPD: 1 << 50, BudgetMicros: 1 << 40}

// benchReserveSettle measures one Reserve and one Settle, over 1,000 keys
// of 100 customers, in parallel.
func benchReserveSettle(b *testing.B, l Limiter) {
	keys := make([]Request, 1000)
	for i := range keys {
		keys[i] = Request{KeyID: "key-" + strconv.Itoa(i), CustomerID: "cus-" + strconv.Itoa(i%100),
			Policy: benchPolicy, Tokens: 1200, CostPicos: 300_000}
	}
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := keys[next.Add(1)%int64(len(keys))]
			d, r, err := l.Reserve(ctx, req)
			if err != nil || !d.Allowed {
				b.Errorf("Reserve: %+v, %v", d, err)
				return
			}
			if err := l.Settle(ctx, r, 900, 200_000); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMemoryReserveSettle(b *testing.B) {
	benchReserveSettle(b, NewMemory(Options{}))
}

func BenchmarkRedisReserveSettle(b *testing.B) {
	c := testRedis(b)
	benchReserveSettle(b, NewRedis(c, Options{Prefix: testPrefix(b, c)}))
}

// BenchmarkRedisReserveSettleSerial is one request at a time: the latency
// of the two round trips.
func BenchmarkRedisReserveSettleSerial(b *testing.B) {
	c := testRedis(b)
	l := NewRedis(c, Options{Prefix: testPrefix(b, c)})
	req := Request{KeyID: "k", CustomerID: "c", Policy: benchPolicy, Tokens: 1200, CostPicos: 300_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, r, err := l.Reserve(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Settle(ctx, r, 900, 200_000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryReserveSettleSerial is one request at a time, without
// contention.
func BenchmarkMemoryReserveSettleSerial(b *testing.B) {
	l := NewMemory(Options{})
	req := Request{KeyID: "k", CustomerID: "c", Policy: benchPolicy, Tokens: 1200, CostPicos: 300_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, r, err := l.Reserve(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Settle(ctx, r, 900, 200_000); err != nil {
			b.Fatal(err)
		}
	}
}
