"""The messenger: contacts and their sessions, conversations, invites, settings, and the PeerJS signalling
protocol it reaches peers through.

Above ``pyfront.session``; below ``pyfront.browser``, which carries out what it decides. Nothing in this
package does I/O.
"""
