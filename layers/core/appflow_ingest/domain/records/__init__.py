"""Records: their versions and keys, Salesforce ids, stored bodies, and quarantine entries for rejected input."""
