"""Pasted code: the stacks a topic is about, and the code, tracebacks and configs its prompts paste."""

from __future__ import annotations

import string
from dataclasses import dataclass


@dataclass(frozen=True)
class Stack:
    lang: str
    framework: str
    test_lib: str
    code: str
    error: str


STACKS: tuple[Stack, ...] = (
    Stack("Python", "FastAPI", "pytest", "python", "a KeyError"),
    Stack("Python", "Django", "pytest", "python", "a KeyError"),
    Stack("Python", "Flask", "pytest", "python", "a KeyError"),
    Stack("TypeScript", "Express", "Jest", "typescript", "a TypeError"),
    Stack("TypeScript", "NestJS", "Jest", "typescript", "a TypeError"),
    Stack("TypeScript", "Fastify", "Vitest", "typescript", "a TypeError"),
    Stack("Go", "chi", "testify", "go", "a nil pointer panic"),
    Stack("Go", "Gin", "testify", "go", "a nil pointer panic"),
    Stack("Java", "Spring Boot", "JUnit 5", "java", "a NullPointerException"),
)

_T = string.Template

SNIPPETS: dict[str, dict[str, string.Template]] = {
    "python": {
        "login": _T('''
def login(request, db):
    username = request.form["username"]
    password = request.form["password"]
    row = db.execute(
        f"SELECT id, password_hash FROM users WHERE username = '{username}'"
    ).fetchone()
    if row and check_password(password, row["password_hash"]):
        session["user_id"] = row["id"]
        return redirect(request.args.get("next", "/dashboard"))
    return render_template("login.html", error="Invalid username or password")
'''),
        "update": _T('''
@app.patch("/$table/<int:item_id>")
@login_required
def update_$entity_id(item_id):
    item = $Model.query.get_or_404(item_id)
    for key, value in request.get_json().items():
        setattr(item, key, value)
    db.session.commit()
    return jsonify(item.to_dict())
'''),
        "process": _T('''
def summarize_$table(rows, since):
    totals = {}
    for row in rows:
        if row["created_at"] < since:
            continue
        key = row["customer_id"]
        totals[key] = totals.get(key, 0) + row["$num_field"]
    ranked = sorted(totals.items(), key=lambda kv: kv[1])
    return ranked[:10]
'''),
    },
    "typescript": {
        "login": _T('''
app.post("/login", async (req, res) => {
  const { email, password } = req.body;
  const result = await db.query(`SELECT * FROM users WHERE email = '${email}'`);
  if (result.rows.length === 0) return res.status(401).send("Unknown email");
  const user = result.rows[0];
  if (!(await bcrypt.compare(password, user.password_hash))) {
    return res.status(401).send("Wrong password");
  }
  res.cookie("uid", String(user.id));
  res.redirect(String(req.query.next ?? "/"));
});
'''),
        "update": _T('''
router.patch("/$table/:id", requireLogin, async (req, res) => {
  const item = await $Model.findByPk(req.params.id);
  if (!item) return res.sendStatus(404);
  Object.assign(item, req.body);
  await item.save();
  res.json(item);
});
'''),
        "process": _T('''
export function summarize(rows: $Model[], since: Date): Map<string, number> {
  const totals = new Map<string, number>();
  rows.forEach((row) => {
    if (row.createdAt < since) return;
    const current = totals.get(row.customerId);
    totals.set(row.customerId, current + row.$num_field);
  });
  return totals;
}
'''),
    },
    "go": {
        "login": _T('''
func loginHandler(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("username")
	pass := r.FormValue("password")
	query := "SELECT id, password_hash FROM users WHERE username = '" + user + "'"
	var id int
	var hash string
	if err := db.QueryRow(query).Scan(&id, &hash); err != nil {
		http.Error(w, "invalid login", http.StatusUnauthorized)
		return
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(pass)) != nil {
		http.Error(w, "invalid login", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "session", Value: strconv.Itoa(id)})
	http.Redirect(w, r, r.URL.Query().Get("next"), http.StatusFound)
}
'''),
        "update": _T('''
func (h *Handler) Update$Model(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var patch map[string]any
	if err := json.NewDecoder(r.Body).Decode(&patch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	item, err := h.store.Get(r.Context(), id)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	for k, v := range patch {
		item.Fields[k] = v
	}
	h.store.Save(r.Context(), item)
	json.NewEncoder(w).Encode(item)
}
'''),
        "process": _T('''
func Summarize(rows []$Model, since time.Time) map[string]int64 {
	var totals map[string]int64
	for _, row := range rows {
		if row.CreatedAt.Before(since) {
			continue
		}
		totals[row.CustomerID] += row.$NumField
	}
	return totals
}
'''),
    },
    "java": {
        "login": _T('''
@PostMapping("/login")
public ResponseEntity<?> login(@RequestParam String username, @RequestParam String password,
                               HttpSession session) {
    String sql = "SELECT id, password_hash FROM users WHERE username = '" + username + "'";
    Map<String, Object> row = jdbc.queryForMap(sql);
    if (!encoder.matches(password, (String) row.get("password_hash"))) {
        return ResponseEntity.status(401).body("Invalid credentials");
    }
    session.setAttribute("userId", row.get("id"));
    return ResponseEntity.ok().build();
}
'''),
        "update": _T('''
@PatchMapping("/$table/{id}")
public $Model update(@PathVariable long id, @RequestBody Map<String, Object> changes) {
    $Model item = repository.findById(id).orElseThrow();
    changes.forEach((key, value) -> {
        Field field = ReflectionUtils.findField($Model.class, key);
        field.setAccessible(true);
        ReflectionUtils.setField(field, item, value);
    });
    return repository.save(item);
}
'''),
        "process": _T('''
public Map<String, BigDecimal> summarize(List<$Model> rows, Instant since) {
    Map<String, BigDecimal> totals = new HashMap<>();
    for ($Model row : rows) {
        if (row.getCreatedAt().isBefore(since)) continue;
        BigDecimal total = totals.get(row.getCustomerId());
        totals.put(row.getCustomerId(), total.add(row.get$NumField()));
    }
    return totals;
}
'''),
    },
}

TRACEBACKS: dict[str, string.Template] = {
    "python": _T('''
Traceback (most recent call last):
  File "/app/$service/worker.py", line $line1, in handle
    result = summarize_$table(batch, since)
  File "/app/$service/$table.py", line $line2, in summarize_$table
    totals[key] = totals.get(key, 0) + row["$num_field"]
KeyError: '$num_field'
'''),
    "typescript": _T('''
TypeError: Cannot read properties of undefined (reading '$num_field')
    at summarize (/srv/$service/dist/$table.js:$line1:23)
    at processBatch (/srv/$service/dist/worker.js:$line2:9)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
'''),
    "go": _T('''
panic: assignment to entry in nil map

goroutine 42 [running]:
main.Summarize({0xc000184000, 0x24, 0x40}, {0x0, 0x0, 0x0})
	/app/$service/$table.go:$line1 +0x1b4
main.(*Handler).Report(0xc0000a6000, {0x9d5e40, 0xc0001c2000}, 0xc000198100)
	/app/$service/handlers.go:$line2 +0x2c5
'''),
    "java": _T('''
java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.add(java.math.BigDecimal)" because "total" is null
	at com.example.$service.${Model}Service.summarize(${Model}Service.java:$line1)
	at com.example.$service.${Model}Controller.report(${Model}Controller.java:$line2)
	at java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
'''),
}

NGINX = _T('''```nginx
server {
    listen 80;
    listen 443 ssl;
    server_name api.$domain.com;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ssl_ciphers ALL;
    location / {
        proxy_pass http://$service:8080;
    }
    location /login {
        proxy_pass http://$service:8080/login;
    }
}
```''')

CLAIM_SQL = _T('''```sql
UPDATE $table SET status = 'processing', worker_id = $$1
WHERE id = (
  SELECT id FROM $table
  WHERE status = 'pending'
  ORDER BY created_at
  LIMIT 1
)
RETURNING id;
```''')
