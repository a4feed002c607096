"""Where articles come from: files, folders and records read into `Article`s, their HTML cleaned, their
bodies cut into passages with offsets. Nothing here touches the network or an index."""
