/** Protocol id of Gen 1's directory, in the form every sedai protocol uses. */
export const PROTOCOL_PREFIX = 'sedai'
export const PROTOCOL_NAME = 'directory'
export const PROTOCOL_VERSION = '1.0.0'
export const DIRECTORY_PROTOCOL = `/${PROTOCOL_PREFIX}/${PROTOCOL_NAME}/${PROTOCOL_VERSION}`
