package api

import (
	"context"
	"net/url"
	"strconv"
)

// PageQuery is Trove's paging of a list: at most Limit items after the one named Marker.
type PageQuery struct {
	Limit  int    `query:"limit" minimum:"1" doc:"The most items to return (default 20, at most 100)."`
	Marker string `query:"marker" doc:"Return the items after this one (the last of the previous page)."`
}

func (q PageQuery) size() int {
	if q.Limit <= 0 {
		return defaultPageSize
	}
	return min(q.Limit, maxPageSize)
}

// page cuts one page out of items, which are sorted by key: the items after the marker, at
// most the page size. When more follow, it returns the link to the next page (path, with
// the query's limit and the last item as marker), for both Trove's links and the
// <collection>_links key gophercloud reads.
func page[T any](ctx context.Context, items []T, key func(T) string, q PageQuery, path string) ([]T, []Link) {
	start := 0
	if q.Marker != "" {
		start = len(items)
		for i, it := range items {
			if key(it) > q.Marker {
				start = i
				break
			}
		}
	}
	items = items[start:]
	size := q.size()
	if len(items) <= size {
		return items, nil
	}
	v := url.Values{"limit": {strconv.Itoa(size)}, "marker": {key(items[size-1])}}
	return items[:size], []Link{{Href: baseURLFrom(ctx) + path + "?" + v.Encode(), Rel: "next"}}
}
