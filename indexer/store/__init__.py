"""The index folder: schema, the write transaction, snapshot reads, and the derived lexical and vector
indexes. SQLite is the truth; everything else here is brought in step from it."""
