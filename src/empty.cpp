// Stands in for a component that has no sources yet; an object library needs one file.
