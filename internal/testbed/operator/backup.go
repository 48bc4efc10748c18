package operator

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Velero-shaped Backup.
const (
	BackupGroup    = "velero.io"
	BackupVersion  = "v1"
	BackupResource = "backups"

	// ItemsAnnotation is a Backup's status.progress.totalItems (default 10).
	ItemsAnnotation = "testbed.vworkspace.io/items"
	// PhaseAnnotation is the phase a Backup ends in (default Completed).
	PhaseAnnotation = "testbed.vworkspace.io/phase"
	// ErrorsAnnotation and WarningsAnnotation are a Backup's final
	// status.errors and status.warnings (default: errors 1 when the phase is
	// PartiallyFailed or Failed, else 0; warnings 0).
	ErrorsAnnotation   = "testbed.vworkspace.io/errors"
	WarningsAnnotation = "testbed.vworkspace.io/warnings"
)

// Velero's backup phases, the values of a Backup's status.phase.
const (
	PhaseNew                        = "New"
	PhaseFailedValidation           = "FailedValidation"
	PhaseInProgress                 = "InProgress"
	PhaseWaitingForPluginOperations = "WaitingForPluginOperations"
	PhaseCompleted                  = "Completed"
	PhasePartiallyFailed            = "PartiallyFailed"
	PhaseFailed                     = "Failed"
)

var (
	Backups    = schema.GroupVersionResource{Group: BackupGroup, Version: BackupVersion, Resource: BackupResource}
	BackupKind = schema.GroupKind{Group: BackupGroup, Kind: "Backup"}
)

// finalPhases are the phases PhaseAnnotation may name.
var finalPhases = []string{PhaseFailedValidation, PhaseWaitingForPluginOperations, PhaseCompleted, PhasePartiallyFailed, PhaseFailed}

// reconcileBackup moves a Backup a step along, as Velero's backup controller
// does: it takes up only a backup without a phase (or New), and once the
// backup is past InProgress never looks at it again.
func (o *Operator) reconcileBackup(ctx context.Context, k key, u *unstructured.Unstructured) (time.Duration, error) {
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	now := time.Now()
	a := parseBackupAnnotations(u)
	switch phase {
	case "", PhaseNew:
		if a.phase == PhaseFailedValidation {
			u.Object["status"] = map[string]any{"phase": PhaseFailedValidation, "completionTimestamp": timestamp(now)}
			return 0, o.updateStatus(ctx, k, u)
		}
		delay := o.start(k, u, now)
		u.Object["status"] = map[string]any{
			"phase":          PhaseInProgress,
			"startTimestamp": timestamp(now),
			"progress":       map[string]any{"totalItems": a.items, "itemsBackedUp": int64(0)},
		}
		if err := o.updateStatus(ctx, k, u); err != nil {
			return 0, err
		}
		return delay, nil
	case PhaseInProgress:
		if a.hang {
			return 0, nil
		}
		if wait := o.wait(k, now); wait > 0 {
			return wait, nil
		}
		backedUp := a.items
		if a.phase == PhasePartiallyFailed || a.phase == PhaseFailed {
			backedUp = max(0, a.items-a.errors)
		}
		status := u.Object["status"].(map[string]any)
		status["phase"] = a.phase
		status["completionTimestamp"] = timestamp(now)
		status["progress"] = map[string]any{"totalItems": a.items, "itemsBackedUp": backedUp}
		status["errors"] = a.errors
		status["warnings"] = a.warnings
		if a.phase == PhaseFailed {
			status["failureReason"] = a.failureReason
		}
		if err := o.updateStatus(ctx, k, u); err != nil {
			return 0, err
		}
		o.done(k)
		return 0, nil
	default:
		return 0, nil
	}
}

type backupAnnotations struct {
	phase                   string
	hang                    bool
	items, errors, warnings int64
	failureReason           string
}

// parseBackupAnnotations reads u's annotations; one that does not parse
// makes the backup end Failed, its failureReason saying why.
func parseBackupAnnotations(u *unstructured.Unstructured) backupAnnotations {
	ann := u.GetAnnotations()
	a := backupAnnotations{phase: ann[PhaseAnnotation], hang: ann[OutcomeAnnotation] == OutcomeHang, items: 10, failureReason: ann[MessageAnnotation]}
	if a.failureReason == "" {
		a.failureReason = "the stand-in operator was told to fail this backup"
	}
	var bad error
	if a.phase == "" {
		a.phase = PhaseCompleted
		if ann[OutcomeAnnotation] == OutcomeFail {
			a.phase = PhaseFailed
		}
	} else if !slices.Contains(finalPhases, a.phase) {
		bad = fmt.Errorf("annotation %s: phase %q is none of %v", PhaseAnnotation, a.phase, finalPhases)
	}
	a.errors = -1 // unset: defaulted below, once the phase is known
	for name, n := range map[string]*int64{ItemsAnnotation: &a.items, ErrorsAnnotation: &a.errors, WarningsAnnotation: &a.warnings} {
		s, ok := ann[name]
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err == nil && v < 0 {
			err = fmt.Errorf("%d is negative", v)
		}
		if err != nil {
			bad = fmt.Errorf("annotation %s: %w", name, err)
			continue
		}
		*n = v
	}
	if bad != nil {
		a.phase = PhaseFailed
		a.failureReason = "testbed: " + bad.Error()
	}
	if a.errors < 0 {
		a.errors = 0
		if a.phase == PhasePartiallyFailed || a.phase == PhaseFailed {
			a.errors = 1
		}
	}
	return a
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
