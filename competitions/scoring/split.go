package scoring

import (
	"context"
	"slices"

	"github.com/medforge/medforge/competitions"
	"github.com/medforge/medforge/competitions/signif"
	"github.com/medforge/medforge/engine/abi"
)

// ScoreSplit scores file on the public and the private part of h. A metric
// whose primary score is the mean of its per-unit contributions runs once,
// and each part's score is the mean of its units' contributions; any other
// metric runs once per part, on the part's units alone. A module whose run
// over the whole holdout gave no per-unit contributions at all is
// remembered (by digest) and goes straight to the two part runs from then
// on: scoring per part is right for every metric, one run is the shortcut.
func (e *Engine) ScoreSplit(ctx context.Context, h competitions.Holdout, m competitions.ScorerModule, file []byte, sp competitions.Split) (*competitions.SplitResult, error) {
	in, err := e.validate(h, file)
	if err != nil {
		return nil, err
	}
	mod, err := e.loaded(ctx, m)
	if err != nil {
		return nil, err
	}
	inPublic := e.mask(h.Digest, sp, in.Columns[0])
	var pub, priv []int
	for u, p := range inPublic {
		if p {
			pub = append(pub, u)
		} else {
			priv = append(priv, u)
		}
	}
	if len(pub) == 0 || len(priv) == 0 {
		return nil, &competitions.ScorerError{Message: "the split leaves a part of the holdout empty",
			Detail: "public fraction too close to 0 or 1 for this holdout"}
	}
	out := &competitions.SplitResult{InPublic: inPublic}
	if !e.knownNoPerUnit(m.Digest) {
		res, err := e.run(ctx, mod, in)
		if err != nil {
			return nil, err
		}
		if len(res.PerUnit) == 0 {
			e.rememberNoPerUnit(m.Digest)
		} else if pm, pok := signif.Mean(res.PerUnit, pub); pok && signif.IsMean(res.Primary, res.PerUnit) {
			if vm, vok := signif.Mean(res.PerUnit, priv); vok {
				out.Method = competitions.SplitOneRun
				out.PerUnit = res.PerUnit
				out.Public = competitions.PartScore{Primary: pm, Units: len(pub)}
				out.Private = competitions.PartScore{Primary: vm, Units: len(priv)}
				return out, nil
			}
		}
	}
	// Not a mean of contributions: score each part on its own units.
	out.Method = competitions.SplitPerPart
	rp, err := e.run(ctx, mod, subset(in, pub))
	if err != nil {
		return nil, err
	}
	rv, err := e.run(ctx, mod, subset(in, priv))
	if err != nil {
		return nil, err
	}
	out.Public = competitions.PartScore{Primary: rp.Primary, Secondary: rp.Secondary, Units: len(pub)}
	out.Private = competitions.PartScore{Primary: rv.Primary, Secondary: rv.Secondary, Units: len(priv)}
	return out, nil
}

// knownNoPerUnit says whether the module with this digest gave a result
// without per-unit contributions.
func (e *Engine) knownNoPerUnit(digest string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return digest != "" && e.noPerUnit[digest]
}

func (e *Engine) rememberNoPerUnit(digest string) {
	if digest == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.noPerUnit) >= maxModules {
		clear(e.noPerUnit)
	}
	e.noPerUnit[digest] = true
}

// maxModules bounds the modules remembered without per-unit contributions.
const maxModules = 1024

// PublicUnits marks h's public units under sp, in holdout order.
func (e *Engine) PublicUnits(ctx context.Context, h competitions.Holdout, sp competitions.Split) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	hd, err := e.holdout(h)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.mask(h.Digest, sp, hd.Key())), nil
}

// mask returns the public units of the holdout with this key column,
// computed once per (holdout, split).
func (e *Engine) mask(digest string, sp competitions.Split, key abi.Column) []bool {
	k := digest + "\x00" + sp.Fingerprint()
	e.mu.Lock()
	m, ok := e.masks[k]
	e.mu.Unlock()
	if ok {
		return m
	}
	m = make([]bool, len(key.Offsets)-1)
	for u := range m {
		m[u] = sp.Public(key.Data[key.Offsets[u]:key.Offsets[u+1]])
	}
	e.mu.Lock()
	if len(e.masks) >= maxCached {
		clear(e.masks)
	}
	e.masks[k] = m
	e.mu.Unlock()
	return m
}

// subset returns in restricted to the units idx (in that order).
func subset(in *abi.Input, idx []int) *abi.Input {
	out := &abi.Input{Units: len(idx), Columns: make([]abi.Column, len(in.Columns))}
	for i, c := range in.Columns {
		nc := abi.Column{Name: c.Name, Role: c.Role, Type: c.Type}
		switch c.Type {
		case abi.Int64:
			nc.Int64 = make([]int64, len(idx))
			for j, u := range idx {
				nc.Int64[j] = c.Int64[u]
			}
		case abi.Float64:
			nc.Float64 = make([]float64, len(idx))
			for j, u := range idx {
				nc.Float64[j] = c.Float64[u]
			}
		case abi.Utf8:
			nc.Offsets = make([]int32, 1, len(idx)+1)
			for _, u := range idx {
				nc.Data = append(nc.Data, c.Data[c.Offsets[u]:c.Offsets[u+1]]...)
				nc.Offsets = append(nc.Offsets, int32(len(nc.Data)))
			}
		case abi.ListFloat64:
			nc.Offsets = make([]int32, 1, len(idx)+1)
			nc.Float64 = []float64{}
			for _, u := range idx {
				nc.Float64 = append(nc.Float64, c.Float64[c.Offsets[u]:c.Offsets[u+1]]...)
				nc.Offsets = append(nc.Offsets, int32(len(nc.Float64)))
			}
		}
		out.Columns[i] = nc
	}
	return out
}
