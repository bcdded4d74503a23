package gemini

import (
	"strconv"

	"github.com/tollgate-gw/tollgate/provider/openaiwire"
)

// openAILogprobs converts a candidate's logprobsResult into OpenAI's
// choice logprobs object, {"content":[{token, logprob, bytes,
// top_logprobs}], "refusal":null}. It returns nil when there is none.
func openAILogprobs(lr *logprobsResult) []byte {
	if lr == nil || len(lr.ChosenCandidates) == 0 {
		return nil
	}
	b := append(make([]byte, 0, 64*len(lr.ChosenCandidates)), `{"content":[`...)
	for i, c := range lr.ChosenCandidates {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTokenLogprob(b, c)
		b = append(b[:len(b)-1], `,"top_logprobs":[`...)
		if i < len(lr.TopCandidates) {
			for j, t := range lr.TopCandidates[i].Candidates {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendTokenLogprob(b, t)
			}
		}
		b = append(b, ']', '}')
	}
	return append(b, `],"refusal":null}`...)
}

// appendTokenLogprob appends {"token":…,"logprob":…,"bytes":[…]}.
func appendTokenLogprob(b []byte, e logprobsEntry) []byte {
	b = append(b, `{"token":`...)
	b = openaiwire.AppendString(b, e.Token)
	b = append(b, `,"logprob":`...)
	b = strconv.AppendFloat(b, e.LogProbability, 'g', -1, 64)
	b = append(b, `,"bytes":[`...)
	for k := 0; k < len(e.Token); k++ {
		if k > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(e.Token[k]), 10)
	}
	return append(b, ']', '}')
}
