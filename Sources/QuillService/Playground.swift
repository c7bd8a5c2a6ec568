// GET /: the playground. One self-contained page (no requests beyond this server): a prompt box with the
// decoding settings, streamed output, the prompt's tokens as coloured pieces, an attention heatmap with layer
// and head selectors, and the checkpoint's training loss curve.

enum Playground {
    static func html(modelName: String) -> String {
        let title = modelName.replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "&", with: "&amp;")
        return page.replacingOccurrences(of: "{{MODEL}}", with: title)
    }

    static let page = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Quill · {{MODEL}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#fafaf7;color:#222}
header{padding:10px 20px;background:#2d3142;color:#fff}header b{font-size:18px}
main{display:grid;grid-template-columns:minmax(320px,1fr) minmax(320px,1fr);gap:16px;padding:16px 20px}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px}
h2{font-size:15px;margin:0 0 8px}textarea{width:100%;box-sizing:border-box;height:90px;font:14px monospace}
label{margin-right:10px;font-size:13px}input[type=number]{width:70px}
#out{white-space:pre-wrap;font:14px/1.4 monospace;min-height:160px;background:#f4f4ee;padding:8px;border-radius:6px}
#out .p{color:#888}.tok{display:inline-block;margin:1px;padding:1px 3px;border-radius:3px;font:13px monospace;white-space:pre}
button{padding:5px 14px}#stats{font-size:12px;color:#555;margin-top:6px}canvas{max-width:100%;image-rendering:pixelated}
</style></head><body>
<header><b>Quill</b> playground · model <code>{{MODEL}}</code>
<label style="float:right;color:#ddd">API key (if the server needs one) <input id="key" type="password" size="14"></label></header>
<main>
<section><h2>Complete</h2>
<textarea id="prompt">ROMEO:</textarea><div>
<label>strategy <select id="strategy"><option>top_k</option><option>top_p</option><option>sample</option><option>greedy</option></select></label>
<label>temperature <input id="temperature" type="number" step="0.1" value="0.8"></label>
<label>top_k <input id="top_k" type="number" value="40"></label>
<label>top_p <input id="top_p" type="number" step="0.05" value="0.95"></label>
<label>max_tokens <input id="max_tokens" type="number" value="200"></label>
<label>seed <input id="seed" type="number" placeholder="random"></label>
<button id="go">Generate</button> <button id="stop">Stop</button></div>
<div id="out"></div><div id="stats"></div></section>
<section><h2>Tokens of the prompt</h2><div id="tokens"></div>
<h2 style="margin-top:14px">Attention</h2>
<label>layer <select id="layer"></select></label><label>head <select id="head"></select></label>
<button id="att">Show</button><div><canvas id="heat" width="300" height="300"></canvas></div><div id="attlabels" style="font:11px monospace;color:#666"></div>
<h2 style="margin-top:14px">Training loss</h2><svg id="loss" width="100%" height="180" viewBox="0 0 400 180"></svg></section>
</main>
<script>
const $=id=>document.getElementById(id);let ctl=null;
function H(){const h={'Content-Type':'application/json'},k=$('key').value;if(k)h.Authorization='Bearer '+k;return h}
function opts(){const o={prompt:$('prompt').value,strategy:$('strategy').value,temperature:+$('temperature').value,
 top_k:+$('top_k').value,top_p:+$('top_p').value,max_tokens:+$('max_tokens').value,stream:true};
 if($('seed').value!=='')o.seed=+$('seed').value;return o}
function esc(s){return s.replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]))}
async function complete(){if(ctl)ctl.abort();ctl=new AbortController();const o=opts();
 $('out').innerHTML='<span class="p">'+esc(o.prompt)+'</span>';$('stats').textContent='…';
 try{const r=await fetch('/complete',{method:'POST',headers:H(),body:JSON.stringify(o),signal:ctl.signal});
 if(!r.ok){const e=await r.json();$('stats').textContent='error: '+e.error.message;return}
 const rd=r.body.getReader(),dec=new TextDecoder();let buf='';
 for(;;){const{value,done}=await rd.read();if(done)break;buf+=dec.decode(value,{stream:true});let i;
  while((i=buf.indexOf('\n\n'))>=0){const ev=buf.slice(0,i);buf=buf.slice(i+2);
   for(const line of ev.split('\n')){if(!line.startsWith('data: '))continue;const d=line.slice(6);if(d==='[DONE]')continue;
    const j=JSON.parse(d);$('out').insertAdjacentText('beforeend',j.text);
    if(j.finish_reason)$('stats').textContent=`finish: ${j.finish_reason} · ${j.usage.completion_tokens} tokens · ${j.timings.tokens_per_second} tokens/s`}}}}
 catch(e){if(e.name!=='AbortError')$('stats').textContent=String(e)}}
async function tokens(){const r=await fetch('/tokenize',{method:'POST',headers:H(),body:JSON.stringify({text:$('prompt').value})});
 const j=await r.json();if(!r.ok){$('tokens').textContent=j.error.message;return}
 $('tokens').innerHTML=j.pieces.map((p,i)=>`<span class="tok" title="id ${j.tokens[i]}" style="background:hsl(${(i*67)%360},70%,85%)">${esc(p)}</span>`).join('')}
async function attention(){const r=await fetch('/attention',{method:'POST',headers:H(),
 body:JSON.stringify({text:$('prompt').value,layer:+$('layer').value,head:+$('head').value})});const j=await r.json();
 if(!r.ok){$('attlabels').textContent=j.error.message;return}const a=j.attention[0][0],n=a.length,c=$('heat'),s=Math.max(2,Math.floor(300/n));
 c.width=c.height=n*s;const g=c.getContext('2d');for(let i=0;i<n;i++)for(let k=0;k<n;k++){const v=a[i][k];
 g.fillStyle=`rgb(${255-Math.round(v*200)},${255-Math.round(v*150)},255)`;g.fillRect(k*s,i*s,s,s)}
 $('attlabels').textContent='rows: query tokens, columns: key tokens ('+j.pieces.join('|')+')'}
async function info(){const r=await fetch('/info',{headers:H()});if(!r.ok){$('loss').outerHTML='<p>/info: '+r.status+' (set the API key above and reload the curves with Show)</p>';return}const j=await r.json();const m=j.model;
 for(let l=0;l<m.n_layer;l++)$('layer').add(new Option(l,l));for(let h=0;h<m.n_head;h++)$('head').add(new Option(h,h));
 const h=m.training.history||[];if(!h.length){$('loss').outerHTML='<p>no training history in this checkpoint</p>';return}
 const xs=h.map(e=>e.step),ys=h.flatMap(e=>[e.train,e.val]).filter(v=>v!=null),x1=Math.max(...xs)||1,y0=Math.min(...ys),y1=Math.max(...ys);
 const X=x=>30+360*x/x1,Y=y=>10+150*(y1-y)/((y1-y0)||1);const line=(k,c)=>`<polyline fill="none" stroke="${c}" stroke-width="2" points="${h.filter(e=>e[k]!=null).map(e=>X(e.step)+','+Y(e[k])).join(' ')}"/>`;
 $('loss').innerHTML=line('train','#4062bb')+line('val','#eb6534')+`<text x="30" y="175" font-size="11">step 0 … ${x1}; loss ${y0.toFixed(2)} … ${y1.toFixed(2)}; blue train, orange val</text>`}
$('key').onchange=()=>{info();tokens()};$('go').onclick=()=>{complete();tokens()};$('stop').onclick=()=>ctl&&ctl.abort();$('att').onclick=attention;$('prompt').oninput=()=>tokens();
info();tokens();
</script></body></html>
"""#
}
