package synth_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
	"github.com/medforge/medforge/engine/synth"
)

func TestGenerateIsDeterministicAndValid(t *testing.T) {
	t.Parallel()
	for _, slug := range spec.BuiltinSlugs() {
		t.Run(slug, func(t *testing.T) {
			t.Parallel()
			a, err := synth.Generate(slug, 7, 300)
			require.NoError(t, err)
			b, err := synth.Generate(slug, 7, 300)
			require.NoError(t, err)
			c, err := synth.Generate(slug, 8, 300)
			require.NoError(t, err)
			require.Equal(t, a.Holdout, b.Holdout)
			require.Equal(t, a.Train, b.Train)
			require.NotEqual(t, a.Holdout, c.Holdout)
			require.Equal(t, 300, a.Units())

			sp, _ := spec.Builtin(slug)
			h, err := holdout.ImportCSV(sp, a.Holdout)
			require.NoError(t, err)
			require.Equal(t, 300, h.Units())
			// The training file is in the same label format for all three.
			if slug != spec.Titanic {
				_, err = holdout.ImportCSV(sp, a.Train)
				require.NoError(t, err)
			}
			for i, o := range []synth.SubmissionOptions{
				{},
				{Noise: 0.3, Shuffle: true, CRLF: true, BOM: true},
				{Noise: 0.6, QuoteAll: true, ReverseColumns: true, CoarseConfidence: true},
			} {
				s1 := a.Submission(uint64(i), o)
				require.Equal(t, s1, a.Submission(uint64(i), o))
				_, err := submission.Validate(sp, h, s1, submission.Limits{})
				require.NoError(t, err, "options %+v", o)
			}
			_, err = submission.Validate(sp, h, a.SampleSubmission, submission.Limits{})
			require.NoError(t, err)
			require.True(t, bytes.HasPrefix(a.Test, []byte(sp.ID)))
		})
	}
	_, err := synth.Generate("nope", 1, 10)
	require.Error(t, err)
	_, err = synth.Generate(spec.Titanic, 1, 0)
	require.Error(t, err)
}
