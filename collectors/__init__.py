"""headroom's collectors: everything below the UI (config, AWS reads, the store, the review)."""
