package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// scanner is what a row scan needs: a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs query and scans every row it returns with scan; what says
// what was being done, in errors.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), what, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// getByIDOrName reads the row of table (holding one kind of object, read
// as cols) whose ID is idOrName, or failing that whose name is; ErrNotFound
// when there is none.
func getByIDOrName[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), kind, table, cols, idOrName string) (T, error) {
	row := db.QueryRowContext(ctx,
		"SELECT "+cols+" FROM "+table+" WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1", idOrName)
	v, err := scan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("%s %q: %w", kind, idOrName, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("getting %s %q: %w", kind, idOrName, err)
	}
	return v, nil
}

// scanColumn scans a row of one column.
func scanColumn[T any](r scanner) (T, error) {
	var v T
	err := r.Scan(&v)
	return v, err
}
