package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/provider"
)

func TestDefault(t *testing.T) {
	mock := provider.Config{Name: "mock", Type: "mock", Timeout: time.Minute}
	tests := []struct {
		name string
		env  map[string]string
		want []provider.Config
	}{
		{"no credentials", nil, []provider.Config{mock}},
		{"every credential", map[string]string{
			"OPENAI_API_KEY":    "sk-o",
			"ANTHROPIC_API_KEY": "sk-a",
			"GEMINI_API_KEY":    "g",
			"OLLAMA_BASE_URL":   "http://gpu-box:11434/",
			"UNRELATED":         "x",
		}, []provider.Config{
			mock,
			{Name: "openai", Type: "openai", BaseURL: "https://api.openai.com/v1", APIKey: "sk-o", Timeout: time.Minute},
			{Name: "anthropic", Type: "anthropic", BaseURL: "https://api.anthropic.com", APIKey: "sk-a", Timeout: time.Minute},
			{Name: "gemini", Type: "gemini", BaseURL: "https://generativelanguage.googleapis.com", APIKey: "g", Timeout: time.Minute},
			{Name: "ollama", Type: "ollama", BaseURL: "http://gpu-box:11434/v1", Timeout: time.Minute},
		}},
		{"ollama with path", map[string]string{"OLLAMA_BASE_URL": "http://localhost:11434/v1"}, []provider.Config{
			mock,
			{Name: "ollama", Type: "ollama", BaseURL: "http://localhost:11434/v1", Timeout: time.Minute},
		}},
		{"empty credential", map[string]string{"OPENAI_API_KEY": ""}, []provider.Config{mock}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := &Config{
				Providers: tt.want, Cache: defaultCache, Limits: defaultLimits, Server: defaultServer,
				Source: "built-in defaults",
			}
			if diff := cmp.Diff(want, Default(envOf(tt.env))); diff != "" {
				t.Errorf("Default (-want +got):\n%s", diff)
			}
		})
	}
}

// writeFile writes a config file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configWith is a valid config file whose only provider is named name.
func configWith(name string) string {
	return "providers:\n  - {name: " + name + ", type: mock}\n"
}

func TestResolve(t *testing.T) {
	env := envOf(map[string]string{"OPENAI_API_KEY": "sk"})
	tests := []struct {
		name       string
		files      map[string]string // relative to the work dir
		configPath string            // TOLLGATE_CONFIG; "ABS/" is replaced by the work dir
		wantSource string            // "WD/" is replaced by the work dir
		wantFirst  string            // name of the first provider
	}{
		{"built-in defaults", nil, "", "built-in defaults", "mock"},
		{"tollgate.yaml in the work dir", map[string]string{"tollgate.yaml": configWith("local")}, "", "WD/tollgate.yaml", "local"},
		{"TOLLGATE_CONFIG relative wins", map[string]string{
			"tollgate.yaml": configWith("local"), "conf/prod.yaml": configWith("prod"),
		}, "conf/prod.yaml", "WD/conf/prod.yaml", "prod"},
		{"TOLLGATE_CONFIG absolute", map[string]string{"elsewhere.yaml": configWith("abs")}, "ABS/elsewhere.yaml", "WD/elsewhere.yaml", "abs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, wd, name, content)
			}
			e := Env{ConfigPath: strings.Replace(tt.configPath, "ABS/", wd+"/", 1)}
			cfg, err := Resolve(e, wd, env)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if want := strings.Replace(tt.wantSource, "WD/", wd+"/", 1); cfg.Source != filepath.FromSlash(want) {
				t.Errorf("Source = %q, want %q", cfg.Source, want)
			}
			if got := cfg.Providers[0].Name; got != tt.wantFirst {
				t.Errorf("first provider = %q, want %q", got, tt.wantFirst)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Run("TOLLGATE_CONFIG missing", func(t *testing.T) {
		wd := t.TempDir()
		writeFile(t, wd, "tollgate.yaml", configWith("local")) // not used as a fallback
		_, err := Resolve(Env{ConfigPath: "missing.yaml"}, wd, envOf(nil))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error = %v, want one wrapping fs.ErrNotExist", err)
		}
		if !strings.Contains(err.Error(), "TOLLGATE_CONFIG") || !strings.Contains(err.Error(), "missing.yaml") {
			t.Errorf("error %q does not name TOLLGATE_CONFIG and the file", err)
		}
	})
	t.Run("invalid file names itself", func(t *testing.T) {
		wd := t.TempDir()
		path := writeFile(t, wd, "tollgate.yaml", "providers:\n  - {name: a, type: nope}\n")
		_, err := Resolve(Env{}, wd, envOf(nil))
		want := []string{path + `:2: providers[0].type: unknown provider type "nope" (want one of openai, openai-compatible, azure, anthropic, gemini, bedrock, ollama, mock)`}
		if diff := cmp.Diff(want, problemLines(t, err)); diff != "" {
			t.Errorf("problems (-want +got):\n%s", diff)
		}
	})
	t.Run("tollgate.yaml is a directory", func(t *testing.T) {
		wd := t.TempDir()
		if err := os.Mkdir(filepath.Join(wd, "tollgate.yaml"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := Resolve(Env{}, wd, envOf(nil)); err == nil {
			t.Error("Resolve succeeded, want a read error")
		}
	})
}

func TestLoad(t *testing.T) {
	wd := t.TempDir()
	path := writeFile(t, wd, "c.yaml", "providers:\n  - {name: o, type: openai, api_key: '${KEY}'}\n")
	cfg, err := Load(path, envOf(map[string]string{"KEY": "sk"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Providers[0].APIKey != "sk" || cfg.Source != path {
		t.Errorf("Load = %+v", cfg)
	}
	if _, err := Load(filepath.Join(wd, "nope.yaml"), envOf(nil)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: error = %v, want fs.ErrNotExist", err)
	}
}
