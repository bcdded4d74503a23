package config

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(full),
		"",
		"providers:\n  - {name: m, type: mock}\n",
		"providers: [{name: a, type: bedrock, region: '${R:-us-east-1}'}]\nmodels: [{name: x, targets: [{provider: a, model: m}], fallbacks: [x]}]\n",
		"a: &a [*a]\nproviders: *a\n",
		"models:\n  - {name: a, fallbacks: [b]}\n  - {name: b, fallbacks: [a]}\n",
		"providers:\n  - <<: {name: x}\n",
		"cache: {ttl: 1h, scope: key}\n---\n",
		"providers: [{name: p, type: openai, headers: {X: '$${x}', Y: '${Z'}}]\n",
		"models: [{pricing: {input_per_mtok: 0.0000001, output_per_mtok: 99999999999999999999}}]\n",
		"\t- [\n",
	} {
		f.Add([]byte(seed))
	}
	getenv := envOf(map[string]string{"OPENAI_API_KEY": "sk", "R": "eu-west-1", "Z": "z"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "f.yaml", getenv)
		if err == nil {
			if cfg == nil || len(cfg.Providers) == 0 {
				t.Fatalf("Parse returned %v without an error", cfg)
			}
			return
		}
		var ve *ValidationError
		if cfg != nil || !errors.As(err, &ve) || len(ve.Problems) == 0 {
			t.Fatalf("Parse = %v, %v (%T), want nil and a *ValidationError", cfg, err, err)
		}
		for _, p := range ve.Problems {
			if p.Msg == "" || p.File != "f.yaml" {
				t.Fatalf("bad problem %+v", p)
			}
		}
	})
}
