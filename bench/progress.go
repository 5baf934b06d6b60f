package bench

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/capsengine/capsengine/internal/progress"
	"github.com/schollz/progressbar/v3"
)

// Progress shows a run as it goes. Run calls it from one goroutine at a
// time.
type Progress interface {
	// Note says what the run is doing between phases.
	Note(msg string)
	// Start begins a phase of total presences.
	Start(phase string, total int64)
	// Update reports done presences after elapsed.
	Update(done int64, elapsed time.Duration)
	// Finish ends the phase with its final figures: done presences in
	// elapsed, the phase's time as the report gives it (until the last
	// lookup ended, not only until the last stanza was handed over), so
	// that the progress output and the summary agree.
	Finish(done int64, elapsed time.Duration)
}

// NewBarProgress draws a progress bar on w, a terminal.
func NewBarProgress(w io.Writer) Progress { return &barProgress{w: w} }

type barProgress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	phase string
}

func (p *barProgress) Note(msg string) { fmt.Fprintln(p.w, msg) }

func (p *barProgress) Start(phase string, total int64) {
	p.phase = phase
	p.bar = progress.Bar(p.w, total, fmt.Sprintf("%-16s", phase), 30, true)
}

func (p *barProgress) Update(done int64, elapsed time.Duration) {
	if p.bar == nil {
		return
	}
	if secs := elapsed.Seconds(); secs > 0 {
		p.bar.Describe(fmt.Sprintf("%-16s %9s presences/s", p.phase, count(int(float64(done)/secs))))
	}
	_ = p.bar.Set64(done)
}

func (p *barProgress) Finish(done int64, elapsed time.Duration) {
	if p.bar != nil {
		p.Update(done, elapsed)
		_ = p.bar.Finish()
		p.bar = nil
	}
}

// NewLineProgress prints a plain line on w every interval, and one at the
// end of each phase: for logs and pipes.
func NewLineProgress(w io.Writer, every time.Duration) Progress {
	return &lineProgress{w: w, every: every}
}

type lineProgress struct {
	w     io.Writer
	every time.Duration
	phase string
	total int64
	last  time.Duration
	lastN int64
}

func (p *lineProgress) Note(msg string) { fmt.Fprintln(p.w, msg) }

func (p *lineProgress) Start(phase string, total int64) {
	*p = lineProgress{w: p.w, every: p.every, phase: phase, total: total}
}

func (p *lineProgress) Update(done int64, elapsed time.Duration) {
	if elapsed-p.last < p.every {
		return
	}
	rate := float64(done-p.lastN) / (elapsed - p.last).Seconds()
	p.last, p.lastN = elapsed, done
	fmt.Fprintf(p.w, "%s: %s/%s presences (%.0f%%), %s/s\n", p.phase, count(int(done)), count(int(p.total)),
		100*float64(done)/float64(max(p.total, 1)), count(int(rate)))
}

func (p *lineProgress) Finish(done int64, elapsed time.Duration) {
	fmt.Fprintf(p.w, "%s: done, %s presences in %.2f s (%s/s)\n", p.phase, count(int(done)), elapsed.Seconds(),
		count(int(perSec(int(done), elapsed.Seconds()))))
}

// phaseProgress adapts a possibly nil Progress for one phase.
type phaseProgress struct {
	mu sync.Mutex
	p  Progress
}

func startPhase(p Progress, name string, total int64) *phaseProgress {
	if p != nil {
		p.Start(name, total)
	}
	return &phaseProgress{p: p}
}

func (pp *phaseProgress) update(done int64, elapsed time.Duration) {
	if pp == nil || pp.p == nil {
		return
	}
	pp.mu.Lock()
	pp.p.Update(done, elapsed)
	pp.mu.Unlock()
}

// finish ends the phase with the figures its report gives.
func (pp *phaseProgress) finish(done int, elapsed time.Duration) {
	if pp == nil || pp.p == nil {
		return
	}
	pp.p.Finish(int64(done), elapsed)
}

func note(p Progress, format string, args ...any) {
	if p != nil {
		p.Note(fmt.Sprintf(format, args...))
	}
}
