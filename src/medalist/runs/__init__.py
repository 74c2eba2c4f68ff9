"""Run folders: the typed run.json (:mod:`.record`), reading folders (:mod:`.store`) and the one
writer every producer goes through (:mod:`.writer`)."""
