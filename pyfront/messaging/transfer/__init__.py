"""File transfers, sans I/O (issue 14; docs/files.md).

* ``stream``: the chunked streaming AEAD of one file (STREAM over AES-256-GCM: a fresh key per file, the
  chunk index and a last-chunk flag in the nonce, the file's id, size and chunk size in the AAD);
* ``frames``: the ``FileChunk`` frame that carries one encrypted chunk on the data channel, outside the
  cascade;
* ``offer``: the ``FileOffer`` (inside the cascade) and the chat attachment it becomes, with the limits;
* ``state``: each side's transfer as a state machine with one transition table, its chunk accounting
  (acknowledgements, resume from the last stored chunk, cancel) and its versioned stored record.

The browser (``pyfront.browser.files``) and the headless peer move the bytes; nothing here does I/O.
"""
