package azure

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// apiVersion is the configured api-version: a dated version of the
// classic deployment API, or the v1 API.
type apiVersion struct {
	// raw is the version as configured.
	raw string
	// v1 selects the v1 API: /openai/v1 paths, model in the body.
	v1 bool
	// date is the YYYY-MM-DD of a dated version.
	date string
}

// The dates of the api-versions that introduced the request features the
// adapter gates (Azure's API version lifecycle notes); a dated version at
// or after the date has the feature, the v1 API has them all.
const (
	// sinceJSONSchema: response_format json_schema (structured outputs),
	// 2024-08-01-preview.
	sinceJSONSchema = "2024-08-01"
	// sinceMaxCompletionTokens: max_completion_tokens, parallel_tool_calls,
	// stream_options.include_usage, 2024-09-01-preview.
	sinceMaxCompletionTokens = "2024-09-01"
	// sinceDeveloper: developer messages, reasoning_effort, store and
	// metadata, 2024-12-01-preview.
	sinceDeveloper = "2024-12-01"
	// sinceAudio: prediction, audio and modalities, 2025-01-01-preview.
	sinceAudio = "2025-01-01"
)

// parseAPIVersion reads api_version: "v1", "preview" (the v1 API with
// preview features), or YYYY-MM-DD with an optional suffix such as
// "-preview".
func parseAPIVersion(s string) (apiVersion, error) {
	switch s {
	case "":
		return apiVersion{}, errors.New(`api_version is required ("2024-10-21", "2025-04-01-preview", "v1", …)`)
	case "v1", "preview":
		return apiVersion{raw: s, v1: true}, nil
	}
	if len(s) < 10 {
		return apiVersion{}, fmt.Errorf("api_version %q is not v1, preview or a dated version", s)
	}
	if _, err := time.Parse(time.DateOnly, s[:10]); err != nil || (len(s) > 10 && s[10] != '-') {
		return apiVersion{}, fmt.Errorf("api_version %q is not v1, preview or a dated version", s)
	}
	return apiVersion{raw: s, date: s[:10]}, nil
}

// has reports whether the version has the feature introduced at since.
func (v apiVersion) has(since string) bool {
	return v.v1 || v.date >= since
}

// url builds the URL of an operation (chat/completions, embeddings) for a
// deployment.
func (v apiVersion) url(base, deployment, op string) string {
	if v.v1 {
		u := base + "/openai/v1/" + op
		if v.raw != "v1" {
			u += "?api-version=" + url.QueryEscape(v.raw)
		}
		return u
	}
	return base + "/openai/deployments/" + url.PathEscape(deployment) + "/" + op +
		"?api-version=" + url.QueryEscape(v.raw)
}
