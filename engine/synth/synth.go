package synth

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/medforge/medforge/engine/spec"
)

// Files is one generated competition data set. All files are UTF-8 CSV
// with LF line ends and a header.
type Files struct {
	Slug string
	// Holdout is the hidden truth in the competition's label format (the
	// input of holdout.ImportCSV).
	Holdout []byte
	// Train is a labelled training set, disjoint from the test ids.
	Train []byte
	// Test lists the public test set: the ids (and, for titanic-survival,
	// the passenger features) without labels.
	Test []byte
	// SampleSubmission is a valid submission with a constant prediction.
	SampleSubmission []byte

	ids   []string
	label []int64     // classification truth, per unit
	boxes [][]float64 // detection truth, x,y,w,h per box, per unit
}

// Units returns the number of test units (rows of the sample submission).
func (f *Files) Units() int { return len(f.ids) }

// Generate builds the data set of a built-in competition with n test units
// (n >= 1). The training set is about twice the size of the test set.
func Generate(slug string, seed uint64, n int) (*Files, error) {
	if n < 1 {
		return nil, fmt.Errorf("synth: n must be at least 1, got %d", n)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6d656466))
	f := &Files{Slug: slug}
	switch slug {
	case spec.Titanic:
		titanic(f, rng, n)
	case spec.CIFAR:
		cifar(f, rng, n)
	case spec.RSNA:
		rsna(f, rng, n)
	default:
		return nil, fmt.Errorf("synth: no generator for %q", slug)
	}
	return f, nil
}

// passenger is one synthetic Titanic passenger.
type passenger struct {
	class, sibsp, parch int
	female              bool
	age, fare           float64
	embarked            byte
}

func newPassenger(rng *rand.Rand) passenger {
	p := passenger{class: 1 + rng.IntN(3), female: rng.Float64() < 0.36, sibsp: rng.IntN(4) * rng.IntN(2), parch: rng.IntN(3) * rng.IntN(2)}
	p.age = float64(1+rng.IntN(79)) + []float64{0, 0.5}[rng.IntN(2)]
	p.fare = float64(int((7+rng.Float64()*float64(4-p.class)*60)*100)) / 100
	p.embarked = "SCQ"[rng.IntN(3)]
	return p
}

// survived draws the label from a plausible model: women, children and
// first class survive more often.
func (p passenger) survived(rng *rand.Rand) int64 {
	pr := 0.19
	if p.female {
		pr = 0.74
	}
	pr += 0.1 * float64(2-p.class)
	if p.age < 12 {
		pr += 0.15
	}
	if rng.Float64() < pr {
		return 1
	}
	return 0
}

func (p passenger) features(b *bytes.Buffer) {
	sex := "male"
	if p.female {
		sex = "female"
	}
	fmt.Fprintf(b, "%d,%s,%s,%d,%d,%s,%c", p.class, sex, fmtF(p.age), p.sibsp, p.parch, fmtF(p.fare), p.embarked)
}

const titanicFeatures = "Pclass,Sex,Age,SibSp,Parch,Fare,Embarked"

func titanic(f *Files, rng *rand.Rand, n int) {
	trainN := 2*n + n/8 + 1 // Kaggle: 891 train for 418 test
	var train, test, hold, sample bytes.Buffer
	train.WriteString("PassengerId," + titanicFeatures + ",Survived\n")
	for i := 1; i <= trainN; i++ {
		p := newPassenger(rng)
		fmt.Fprintf(&train, "%d,", i)
		p.features(&train)
		fmt.Fprintf(&train, ",%d\n", p.survived(rng))
	}
	test.WriteString("PassengerId," + titanicFeatures + "\n")
	hold.WriteString("PassengerId,Survived\n")
	sample.WriteString("PassengerId,Survived\n")
	for i := 0; i < n; i++ {
		id := strconv.Itoa(trainN + 1 + i)
		p := newPassenger(rng)
		y := p.survived(rng)
		f.ids = append(f.ids, id)
		f.label = append(f.label, y)
		test.WriteString(id + ",")
		p.features(&test)
		test.WriteByte('\n')
		fmt.Fprintf(&hold, "%s,%d\n", id, y)
		fmt.Fprintf(&sample, "%s,0\n", id)
	}
	f.Train, f.Test, f.Holdout, f.SampleSubmission = train.Bytes(), test.Bytes(), hold.Bytes(), sample.Bytes()
}

func cifar(f *Files, rng *rand.Rand, n int) {
	trainN := 5 * n
	var train, test, hold, sample bytes.Buffer
	train.WriteString("image_id,label\n")
	for i := 0; i < trainN; i++ {
		fmt.Fprintf(&train, "%d,%d\n", i, rng.IntN(100))
	}
	test.WriteString("image_id\n")
	hold.WriteString("image_id,label\n")
	sample.WriteString("image_id,label\n")
	for i := 0; i < n; i++ {
		id := strconv.Itoa(trainN + i)
		y := int64(rng.IntN(100))
		f.ids = append(f.ids, id)
		f.label = append(f.label, y)
		test.WriteString(id + "\n")
		fmt.Fprintf(&hold, "%s,%d\n", id, y)
		fmt.Fprintf(&sample, "%s,0\n", id)
	}
	f.Train, f.Test, f.Holdout, f.SampleSubmission = train.Bytes(), test.Bytes(), hold.Bytes(), sample.Bytes()
}

func uuid(rng *rand.Rand) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for i := range b {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
		default:
			b[i] = hex[rng.IntN(16)]
		}
	}
	return string(b)
}

// rsnaBoxes draws an image's ground truth: no box for about 70% of images,
// else one to three boxes in a 1024x1024 image, coordinates to 0.1 pixel.
func rsnaBoxes(rng *rand.Rand) []float64 {
	if rng.Float64() < 0.7 {
		return nil
	}
	k := 1 + rng.IntN(3)
	out := make([]float64, 0, 4*k)
	for j := 0; j < k; j++ {
		w := round1(100 + rng.Float64()*250)
		h := round1(100 + rng.Float64()*350)
		x := round1(rng.Float64() * (1024 - w))
		y := round1(rng.Float64() * (1024 - h))
		out = append(out, x, y, w, h)
	}
	return out
}

func writeBoxRows(b *bytes.Buffer, id string, boxes []float64) {
	if len(boxes) == 0 {
		fmt.Fprintf(b, "%s,,,,,0\n", id)
		return
	}
	for k := 0; k < len(boxes); k += 4 {
		fmt.Fprintf(b, "%s,%s,%s,%s,%s,1\n", id, fmtF(boxes[k]), fmtF(boxes[k+1]), fmtF(boxes[k+2]), fmtF(boxes[k+3]))
	}
}

func rsna(f *Files, rng *rand.Rand, n int) {
	trainN := 2 * n
	var train, test, hold, sample bytes.Buffer
	train.WriteString("patientId,x,y,width,height,Target\n")
	for i := 0; i < trainN; i++ {
		writeBoxRows(&train, uuid(rng), rsnaBoxes(rng))
	}
	test.WriteString("patientId\n")
	hold.WriteString("patientId,x,y,width,height,Target\n")
	sample.WriteString("patientId,PredictionString\n")
	for i := 0; i < n; i++ {
		id := uuid(rng)
		bx := rsnaBoxes(rng)
		f.ids = append(f.ids, id)
		f.boxes = append(f.boxes, bx)
		test.WriteString(id + "\n")
		writeBoxRows(&hold, id, bx)
		fmt.Fprintf(&sample, "%s,\n", id)
	}
	f.Train, f.Test, f.Holdout, f.SampleSubmission = train.Bytes(), test.Bytes(), hold.Bytes(), sample.Bytes()
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// fmtF formats a float the shortest way that reads back exactly.
func fmtF(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
