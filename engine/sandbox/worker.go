package sandbox

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Environment variables that turn a re-execution of the current binary into
// a sandbox worker.
const (
	workerEnv = "MEDFORGE_SANDBOX_WORKER"
	configEnv = "MEDFORGE_SANDBOX_CONFIG"
)

// Frame operations, parent to worker.
const (
	opCompile byte = 1 // digest + wasm: compile and check; answer empty
	opStart   byte = 2 // digest: start the next instance; answer the u32 minor
	opScore   byte = 3 // digest + encoded input; answer the guest output
	opSeed    byte = 4 // digest + u64 seed: the next opScore runs in an instance seeded so; answer empty
	opMemory  byte = 5 // digest: answer the u64 memory size the last opScore's instance ended with
)

const digestLen = 64 // hex sha256

// hello is the first frame a worker sends, so the pool can tell a worker from
// a binary that forgot to call MaybeRunWorker.
const hello = "medforge-sandbox-worker/1"

// MaybeRunWorker turns the process into a sandbox worker and never returns
// when it was started as one by a Pool; otherwise it returns at once and
// does nothing. Call it first thing in main (and in TestMain of any test
// binary that creates a Pool), before flags are parsed or anything is
// printed on stdout.
func MaybeRunWorker() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	var cfg runnerConfig
	if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox worker: bad config: %v\n", err)
		os.Exit(3)
	}
	cache, err := confine(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sandbox worker: confine: %v\n", err)
		os.Exit(3)
	}
	cfg.CacheDir = cache
	if err := serve(cfg, os.Stdin, os.Stdout); err != nil && err != io.EOF {
		fmt.Fprintf(os.Stderr, "sandbox worker: %v\n", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// serve answers frames from in until in ends. A returned error means the
// stream itself is broken; guest failures are answered as frames.
func serve(cfg runnerConfig, in io.Reader, out io.Writer) error {
	r, err := newRunner(cfg)
	if err != nil {
		return err
	}
	defer r.close()
	br := bufio.NewReaderSize(in, 1<<16)
	bw := bufio.NewWriterSize(out, 1<<16)
	if err := writeFrame(bw, byte(kindOK), []byte(hello)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	ctx := context.Background()
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := binary.LittleEndian.Uint32(hdr[1:])
		if n < digestLen {
			return fmt.Errorf("frame of %d bytes has no digest", n)
		}
		var digest [digestLen]byte
		if _, err := io.ReadFull(br, digest[:]); err != nil {
			return err
		}
		n -= digestLen
		switch hdr[0] {
		case opCompile:
			wasm := make([]byte, n)
			if _, err := io.ReadFull(br, wasm); err != nil {
				return err
			}
			err := r.compile(ctx, string(digest[:]), wasm)
			if err != nil {
				err = writeError(bw, err)
			} else {
				r.prepare(string(digest[:]))
				err = writeFrame(bw, byte(kindOK), nil)
			}
			if err != nil {
				return err
			}
		case opStart:
			if n != 0 {
				return fmt.Errorf("start frame with %d payload bytes", n)
			}
			minor, err := r.start(ctx, string(digest[:]))
			if err != nil {
				err = writeError(bw, err)
			} else {
				var b [4]byte
				binary.LittleEndian.PutUint32(b[:], minor)
				err = writeFrame(bw, byte(kindOK), b[:])
			}
			if err != nil {
				return err
			}
		case opSeed:
			var b [8]byte
			if n != 8 {
				return fmt.Errorf("seed frame with %d payload bytes", n)
			}
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return err
			}
			r.seed = binary.LittleEndian.Uint64(b[:])
			if err := writeFrame(bw, byte(kindOK), nil); err != nil {
				return err
			}
		case opMemory:
			if n != 0 {
				return fmt.Errorf("memory frame with %d payload bytes", n)
			}
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], r.lastMemory)
			if err := writeFrame(bw, byte(kindOK), b[:]); err != nil {
				return err
			}
		case opScore:
			var readErr error
			fill := func(view []byte) error {
				_, readErr = io.ReadFull(br, view)
				return readErr
			}
			skip := func() error {
				_, readErr = io.CopyN(io.Discard, br, int64(n))
				return readErr
			}
			emit := func(b []byte) error { return writeFrame(bw, byte(kindOK), b) }
			err := r.score(ctx, string(digest[:]), n, fill, skip, emit)
			r.seed = 0
			if readErr != nil {
				return readErr
			}
			r.prepare(string(digest[:]))
			if err != nil {
				if _, ok := err.(*runError); !ok {
					return err // writing the answer failed
				}
				if err := writeError(bw, err); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unknown operation %d", hdr[0])
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

func writeFrame(w io.Writer, kind byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.LittleEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

func writeError(w io.Writer, err error) error {
	kind, msg := kindInternal, err.Error()
	if re, ok := err.(*runError); ok {
		kind = re.kind
	}
	if len(msg) > 8192 {
		msg = msg[:8192]
	}
	return writeFrame(w, byte(kind), []byte(msg))
}
