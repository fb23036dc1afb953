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
	for {
		op, digest, n, err := readRequest(br)
		if err != nil {
			return err
		}
		if err := answer(ctx, r, br, bw, op, digest, n); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// readRequest reads one request frame's header and digest from br. It
// returns the operation, the digest and the number of payload bytes that
// follow the digest (still unread). Any error means the stream is broken:
// a short read, or a frame too small to hold a digest.
func readRequest(br *bufio.Reader) (op byte, digest string, n uint32, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return 0, "", 0, err
	}
	n = binary.LittleEndian.Uint32(hdr[1:])
	if n < digestLen {
		return 0, "", 0, fmt.Errorf("frame of %d bytes has no digest", n)
	}
	var d [digestLen]byte
	if _, err := io.ReadFull(br, d[:]); err != nil {
		return 0, "", 0, err
	}
	return hdr[0], string(d[:]), n - digestLen, nil
}

// answer carries out one request whose n payload bytes are still unread on
// br, and writes its answer frame to bw (unflushed). Guest and compile
// failures are answered as error frames; a returned error means the stream
// is broken (a short read, a payload size the operation does not take, an
// unknown operation, or a failed write).
func answer(ctx context.Context, r *runner, br *bufio.Reader, bw *bufio.Writer, op byte, digest string, n uint32) error {
	switch op {
	case opCompile:
		return answerCompile(ctx, r, br, bw, digest, n)
	case opStart:
		if n != 0 {
			return fmt.Errorf("start frame with %d payload bytes", n)
		}
		minor, err := r.start(ctx, digest)
		if err != nil {
			return writeError(bw, err)
		}
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], minor)
		return writeFrame(bw, byte(kindOK), b[:])
	case opSeed:
		var b [8]byte
		if n != 8 {
			return fmt.Errorf("seed frame with %d payload bytes", n)
		}
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return err
		}
		r.seed = binary.LittleEndian.Uint64(b[:])
		return writeFrame(bw, byte(kindOK), nil)
	case opMemory:
		if n != 0 {
			return fmt.Errorf("memory frame with %d payload bytes", n)
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.lastMemory)
		return writeFrame(bw, byte(kindOK), b[:])
	case opScore:
		return answerScore(ctx, r, br, bw, digest, n)
	default:
		return fmt.Errorf("unknown operation %d", op)
	}
}

// answerCompile reads the n-byte module from br, compiles and checks it
// under digest and, when that succeeds, prepares its next instance. A
// compile failure is answered as an error frame.
func answerCompile(ctx context.Context, r *runner, br *bufio.Reader, bw *bufio.Writer, digest string, n uint32) error {
	wasm := make([]byte, n)
	if _, err := io.ReadFull(br, wasm); err != nil {
		return err
	}
	if err := r.compile(ctx, digest, wasm); err != nil {
		return writeError(bw, err)
	}
	r.prepare(digest)
	return writeFrame(bw, byte(kindOK), nil)
}

// answerScore streams the n-byte encoded input from br into a scoring run
// of the module digest and writes its output frames to bw. The seed set by
// opSeed applies to this run only, and the module's next instance is
// prepared afterwards. A guest failure is answered as an error frame; a
// short read of the input or a failed write is returned.
func answerScore(ctx context.Context, r *runner, br *bufio.Reader, bw *bufio.Writer, digest string, n uint32) error {
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
	err := r.score(ctx, digest, n, fill, skip, emit)
	r.seed = 0
	if readErr != nil {
		return readErr
	}
	r.prepare(digest)
	if err != nil {
		if _, ok := err.(*runError); !ok {
			return err // writing the answer failed
		}
		return writeError(bw, err)
	}
	return nil
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
