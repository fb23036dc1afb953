package engine_test

import (
	"fmt"

	"github.com/medforge/medforge/engine"
	"github.com/medforge/medforge/engine/holdout"
	"github.com/medforge/medforge/engine/spec"
	"github.com/medforge/medforge/engine/submission"
)

// A service validates a submission at intake, without a sandbox, and
// shows the participant only what PublicMessage allows.
func ExampleEngine_Validate() {
	sp, _ := spec.Builtin(spec.RSNA)
	h, err := holdout.ImportCSV(sp, []byte("patientId,x,y,width,height,Target\np1,10,10,50,50,1\np2,,,,,0\n"))
	if err != nil {
		panic(err)
	}
	sc := engine.New(nil, submission.Limits{})
	v, err := sc.Validate(sp, h, []byte("patientId,PredictionString\np2,\np1,0.9 12 11 48 50\n"))
	fmt.Println(v.Units(), err)

	_, err = sc.Validate(sp, h, []byte("patientId,PredictionString\np1,0.9 12 11 48\np2,\n"))
	msg, public := engine.PublicMessage(err)
	fmt.Println(public)
	fmt.Println(msg)
	// Output:
	// 2 <nil>
	// true
	// invalid file: row 2, column "PredictionString", value "0.9 12 11 48": has 4 numbers, not groups of 5 (confidence x y width height)
}
