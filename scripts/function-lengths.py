#!/usr/bin/env python3
"""The longest functions under a source folder (issue 23: none in src/ over 80 lines but option
tables): a brace counter over comment- and string-stripped C++, counting each function from its
signature line to its closing brace. A heuristic, not a parser: lambdas count inside their function.

    function-lengths.py DIR [HOW_MANY, default 10]
"""
import re, sys, os
def strip(src):
    out=[];i=0;n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j; out.append(' '*(j-i)); i=j
        elif src.startswith('/*',i):
            j=src.find('*/',i)+2; out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif src.startswith('R"',i):
            m=re.match(r'R"([^(]*)\(',src[i:]); d=m.group(1); j=src.find(')'+d+'"',i)+len(d)+2
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif c in '"\'' and not (c=="'" and i>0 and src[i-1].isalnum() and src[i+1:i+2].isdigit()):
            j=i+1
            while j<n and src[j]!=c:
                j+= 2 if src[j]=='\\' else 1
            out.append(c+' '*(j-i-1)+c); i=j+1
        else: out.append(c); i+=1
    return ''.join(out)
res=[]
for root,_,fs in os.walk(sys.argv[1]):
    for f in fs:
        if not f.endswith(('.cpp','.h')): continue
        p=os.path.join(root,f); s=strip(open(p).read())
        stack=[]  # kinds: 'c' container, 'f' function, 'o' other
        for m in re.finditer(r'[{}]',s):
            i=m.start()
            if s[i]=='{':
                infunc=any(k[0]=='f' for k in stack)
                if infunc: stack.append(('o',i)); continue
                # look back to previous ; { } to get the head
                j=max(s.rfind(';',0,i),s.rfind('{',0,i),s.rfind('}',0,i))
                head=s[j+1:i].strip()
                if re.search(r'\b(namespace|class|struct|enum|union)\b',head) and not re.search(r'\)\s*(const)?\s*(noexcept)?\s*(override)?\s*$',head) or head.startswith('extern') :
                    stack.append(('c',i))
                elif head.endswith('=') or head=='' or re.search(r'=\s*$',head) or not re.search(r'\)',head):
                    stack.append(('o',i))
                else:
                    stack.append(('f',i,j+1))
            else:
                if not stack: continue
                k=stack.pop()
                if k[0]=='f':
                    start=s.count('\n',0,k[2]+len(s[k[2]:k[1]])-len(s[k[2]:k[1]].lstrip()))+1
                    end=s.count('\n',0,i)+1
                    head=' '.join(s[k[2]:k[1]].split())
                    name=re.search(r'([~\w:]+(?:operator\S*)?)\s*\(',head)
                    res.append((end-start+1,p,start,name.group(1) if name else head[:60]))
res.sort(reverse=True)
for r in res[:int(sys.argv[2]) if len(sys.argv)>2 else 10]: print(f"{r[0]:4d}  {r[1]}:{r[2]}  {r[3]}")
