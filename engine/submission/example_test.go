package submission_test

import (
	"errors"
	"fmt"

	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/strictcsv"
	"github.com/medforge/medforge/engine/submission"
)

// A submission is validated against the competition's spec and a prepared
// holdout, and comes back aligned to the holdout's order.
func ExampleValidate() {
	sp, _ := spec.Builtin(spec.Titanic)
	h, err := holdout.ImportCSV(sp, []byte("PassengerId,Survived\n892,0\n893,1\n894,1\n"))
	if err != nil {
		panic(err)
	}
	in, err := submission.Validate(sp, h, []byte("Survived,PassengerId\r\n1,894\r\n0,892\r\n0,893\r\n"), submission.Limits{})
	if err != nil {
		panic(err)
	}
	for _, c := range in.Columns[1:] {
		fmt.Println(c.Name, c.Role, c.Int64)
	}

	_, err = submission.Validate(sp, h, []byte("PassengerId,Survived\n892,2\n892,1\n999,0\n"), submission.Limits{})
	var ie *strictcsv.InvalidError
	if errors.As(err, &ie) {
		fmt.Print(ie.Lines())
	}
	// Output:
	// Survived 2 [0 1 1]
	// Survived 3 [0 0 1]
	// row 2, column "Survived", value "2": must be 0 or 1
	// row 3, column "PassengerId", value "892": duplicate id, first given at row 2
	// row 4, column "PassengerId", value "999": unknown id: not in the test set
	// column "PassengerId": 2 ids of the test set are missing (rows with other problems count as missing), e.g. "893", "894"
}

func ExampleParsePredictionString() {
	boxes, msg := submission.ParsePredictionString([]byte("0.9 10 20 30 40 0.5 0 0 5 5"), nil)
	fmt.Println(boxes, msg == "")
	_, msg = submission.ParsePredictionString([]byte("0.9 10 20 30"), nil)
	fmt.Println(msg)
	// Output:
	// [0.9 10 20 30 40 0.5 0 0 5 5] true
	// has 4 numbers, not groups of 5 (confidence x y width height)
}
