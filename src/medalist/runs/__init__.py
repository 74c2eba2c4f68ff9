"""Run folders: reading them (:mod:`.store`). Every producer writes them through one writer."""
