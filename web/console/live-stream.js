// A live Server-Sent Events stream of JSON records, newest first (at most `keep` of them), and
// the stream's state as the badge shows it: connecting, live, reconnecting or closed.

import { useEffect, useState } from 'preact/hooks';

export function useLiveStream(url, keep = 500) {
  const [rows, setRows] = useState([]);
  const [state, setState] = useState('connecting');
  useEffect(() => {
    const source = new EventSource(url);
    source.onopen = () => setState('live');
    source.onerror = () =>
      setState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    source.onmessage = (event) => setRows((old) => [JSON.parse(event.data), ...old].slice(0, keep));
    return () => source.close();
  }, [url, keep]);
  return [rows, state];
}
