package store

import "gorm.io/gorm"

// What rollbacks and an application's history add to the jobs table: the
// job a rollback put back, and a digest of each job's manifests.

// historyJob is the jobs table as migration 15 left it.
type historyJob struct {
	ManifestDigest string `gorm:"size:64"`
	SourceJob      string `gorm:"size:128"`
}

func (historyJob) TableName() string { return "jobs" }

// addHistory is migration 15.
func addHistory(tx *gorm.DB) error {
	for _, field := range []string{"ManifestDigest", "SourceJob"} {
		if tx.Migrator().HasColumn(&historyJob{}, field) {
			continue // a database created with today's structs has it
		}
		if err := tx.Migrator().AddColumn(&historyJob{}, field); err != nil {
			return err
		}
	}
	return nil
}
