package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// CreateUsersRequest makes users on an instance.
type CreateUsersRequest struct {
	InstancePath
	Body struct {
		Users []UserRequest `json:"users" minItems:"1" maxItems:"100"`
	}
}

// UserPath names a user of an instance: name or name@host, URL-quoted (host '%' by default).
type UserPath struct {
	InstancePath
	User string `path:"user" doc:"The user: name, or name@host URL-quoted (the host defaults to %)."`
}

// ListUsersRequest pages through an instance's users by name.
type ListUsersRequest struct {
	InstancePath
	PageQuery
}

// UserUpdate is what a user update changes; at least one field.
type UserUpdate struct {
	Name     string `json:"name,omitempty" maxLength:"63" pattern:"^[A-Za-z_][A-Za-z0-9_-]{0,62}$" doc:"A new name."`
	Password string `json:"password,omitempty" maxLength:"255" doc:"A new password: at least the API's min_password_length (default 8) characters, no control characters."`
	Host     string `json:"host,omitempty" maxLength:"255" pattern:"^[A-Za-z0-9.%:_-]{1,255}$" doc:"A new host: an address, a host name or '%'."`
}

// UpdateUserRequest renames a user, or gives it a new password or host.
type UpdateUserRequest struct {
	UserPath
	Body struct {
		User UserUpdate `json:"user"`
	}
}

// PasswordChange is a user's new password.
type PasswordChange struct {
	Name     string `json:"name" maxLength:"63" pattern:"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"`
	Password string `json:"password" maxLength:"255" doc:"At least the API's min_password_length (default 8) characters, no control characters."`
	Host     string `json:"host,omitempty" maxLength:"255" pattern:"^[A-Za-z0-9.%:_-]{1,255}$"`
}

// ChangePasswordsRequest sets the passwords of users.
type ChangePasswordsRequest struct {
	InstancePath
	Body struct {
		Users []PasswordChange `json:"users" minItems:"1" maxItems:"100"`
	}
}

// GrantRequest gives a user access to databases.
type GrantRequest struct {
	UserPath
	Body struct {
		Databases []DatabaseName `json:"databases" minItems:"1" maxItems:"100"`
	}
}

// RevokeRequest takes a user's access to a database away.
type RevokeRequest struct {
	UserPath
	Database string `path:"database" doc:"The database."`
}

// UserView is a user as Trove shows it.
type UserView struct {
	Name      string         `json:"name" example:"app"`
	Host      string         `json:"host" example:"%"`
	Databases []DatabaseView `json:"databases"`
}

// UserResponse is one user.
type UserResponse struct {
	Body struct {
		User UserView `json:"user"`
	}
}

// UserListResponse is a page of users; the next page's link is in links and in users_links
// (the key gophercloud reads).
type UserListResponse struct {
	Body struct {
		Users      []UserView `json:"users"`
		Links      []Link     `json:"links,omitempty"`
		UsersLinks []Link     `json:"users_links,omitempty"`
	}
}

// AccessResponse lists the databases a user may connect to.
type AccessResponse struct {
	Body struct {
		Databases []DatabaseView `json:"databases"`
	}
}

func (s *Server) registerUsers(g *huma.Group) {
	tags := []string{"Users"}
	op := func(id, method, path, summary, desc string, status int) huma.Operation {
		return huma.Operation{OperationID: id, Method: method, Path: path, Summary: summary, Description: desc,
			Tags: tags, DefaultStatus: status, Errors: errMethods}
	}
	huma.Register(g, op("createUsers", http.MethodPost, "/instances/{id}/users", "Create users",
		"Makes users with passwords and access to their databases. Names, hosts, passwords (at least quotas.min_password_length characters) and databases are checked, and a user that exists is refused, before anything is made.",
		http.StatusAccepted), s.createUsers)
	huma.Register(g, op("listUsers", http.MethodGet, "/instances/{id}/users", "List users",
		"Lists the instance's users by name with their databases, asking its guest agent (15 s at most). System roles and root are not shown.",
		0), s.listUsers)
	huma.Register(g, op("showUser", http.MethodGet, "/instances/{id}/users/{user}", "Show a user", "Shows a user (name or name@host) with its databases.", 0), s.showUser)
	huma.Register(g, op("updateUser", http.MethodPut, "/instances/{id}/users/{user}", "Update a user's attributes",
		"Renames the user, or gives it a new password or host.", http.StatusAccepted), s.updateUser)
	huma.Register(g, op("changePasswords", http.MethodPut, "/instances/{id}/users", "Change users' passwords",
		"Sets the passwords of existing users; when one is missing, none changes.", http.StatusAccepted), s.changePasswords)
	huma.Register(g, op("deleteUser", http.MethodDelete, "/instances/{id}/users/{user}", "Delete a user",
		"Drops the user; what it owned passes to the instance's administrator, so no data is lost.", http.StatusAccepted), s.deleteUser)
	huma.Register(g, op("listUserAccess", http.MethodGet, "/instances/{id}/users/{user}/databases", "List a user's databases",
		"Lists the databases the user may connect to.", 0), s.listAccess)
	huma.Register(g, op("grantUserAccess", http.MethodPut, "/instances/{id}/users/{user}/databases", "Grant databases to a user",
		"Gives the user all rights on each database, which must exist.", http.StatusAccepted), s.grantAccess)
	huma.Register(g, op("revokeUserAccess", http.MethodDelete, "/instances/{id}/users/{user}/databases/{database}", "Revoke a database from a user",
		"Takes the user's rights on the database away and ends its sessions there.", http.StatusAccepted), s.revokeAccess)
}

func userView(u guest.UserInfo) UserView {
	v := UserView{Name: u.Name, Host: u.Host, Databases: []DatabaseView{}}
	for _, d := range u.Databases {
		v.Databases = append(v.Databases, DatabaseView{Name: d})
	}
	return v
}

func (s *Server) guestUsers(ctx context.Context, inst *coffer.Instance) ([]guest.UserInfo, error) {
	var users []guest.UserInfo
	if err := s.callGuest(ctx, inst, "users/list", guest.ListUsersActivity, nil, &users); err != nil {
		return nil, err
	}
	return users, nil
}

// userRef checks a user named in a path and returns it.
func userRef(id string) (guest.UserRef, error) {
	name, host := userHost(id)
	if err := checkUserName(name); err != nil {
		return guest.UserRef{}, badRequest("Invalid request: user %s: %v.", quote(id), err)
	}
	if err := checkHost(host); err != nil {
		return guest.UserRef{}, badRequest("Invalid request: user %s: %v.", quote(id), err)
	}
	return guest.UserRef{Name: name, Host: host}, nil
}

// findUser asks the guest for a user; 404 when there is none of that name and host.
func (s *Server) findUser(ctx context.Context, inst *coffer.Instance, ref guest.UserRef) (guest.UserInfo, error) {
	var u guest.UserInfo
	err := s.callGuest(ctx, inst, "users/show", guest.GetUserActivity, ref, &u)
	return u, err
}

func (s *Server) createUsers(ctx context.Context, in *CreateUsersRequest) (*struct{}, error) {
	seen := map[string]bool{}
	var users []coffer.User
	for i, u := range in.Body.Users {
		if err := checkUserName(u.Name); err != nil {
			return nil, badRequest("Invalid request: users[%d].name: %v.", i, err)
		}
		if err := checkHost(u.Host); err != nil {
			return nil, badRequest("Invalid request: users[%d].host: %v.", i, err)
		}
		if seen[u.Name] {
			return nil, badRequest("Invalid request: users[%d].name: user %s is listed twice.", i, u.Name)
		}
		seen[u.Name] = true
		if err := s.checkPassword("users[i].password", u.Password); err != nil {
			return nil, err
		}
		user := coffer.User{Name: u.Name, Password: u.Password, Host: u.Host}
		for j, d := range u.Databases {
			if err := checkName(d.Name); err != nil {
				return nil, badRequest("Invalid request: users[%d].databases[%d].name: %v.", i, j, err)
			}
			user.Databases = append(user.Databases, d.Name)
		}
		users = append(users, user)
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "create_user")
	if err != nil {
		return nil, err
	}
	existing, err := s.guestUsers(ctx, inst)
	if err != nil {
		return nil, err
	}
	dbs, err := s.guestDatabases(ctx, inst)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if slices.ContainsFunc(existing, func(e guest.UserInfo) bool { return e.Name == u.Name }) {
			return nil, badRequest("A user with the name %s already exists on instance %s.", u.Name, inst.ID)
		}
		for _, d := range u.Databases {
			if !hasDatabase(dbs, d) {
				return nil, badRequest("Database %s does not exist on instance %s: create it first, then give user %s access.", d, inst.ID, u.Name)
			}
		}
	}
	if err := s.changeGuest(ctx, inst, "users/create", guest.CreateUsersActivity, users); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) listUsers(ctx context.Context, in *ListUsersRequest) (*UserListResponse, error) {
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "list_users")
	if err != nil {
		return nil, err
	}
	users, err := s.guestUsers(ctx, inst)
	if err != nil {
		return nil, err
	}
	views := make([]UserView, 0, len(users))
	for _, u := range users {
		views = append(views, userView(u))
	}
	out := &UserListResponse{}
	out.Body.Users, out.Body.Links = page(ctx, views, func(v UserView) string { return v.Name }, in.PageQuery,
		"/v1.0/"+in.ProjectID+"/instances/"+in.ID+"/users")
	out.Body.UsersLinks = out.Body.Links
	if out.Body.Users == nil {
		out.Body.Users = []UserView{}
	}
	return out, nil
}

func (s *Server) showUser(ctx context.Context, in *UserPath) (*UserResponse, error) {
	ref, err := userRef(in.User)
	if err != nil {
		return nil, err
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "get_user")
	if err != nil {
		return nil, err
	}
	u, err := s.findUser(ctx, inst, ref)
	if err != nil {
		return nil, err
	}
	out := &UserResponse{}
	out.Body.User = userView(u)
	return out, nil
}

func (s *Server) updateUser(ctx context.Context, in *UpdateUserRequest) (*struct{}, error) {
	ref, err := userRef(in.User)
	if err != nil {
		return nil, err
	}
	up := in.Body.User
	if up.Name == "" && up.Password == "" && up.Host == "" {
		return nil, badRequest("Invalid request: user: give a new name, password or host.")
	}
	if up.Name != "" {
		if err := checkUserName(up.Name); err != nil {
			return nil, badRequest("Invalid request: user.name: %v.", err)
		}
	}
	if err := checkHost(up.Host); err != nil {
		return nil, badRequest("Invalid request: user.host: %v.", err)
	}
	if up.Password != "" {
		if err := s.checkPassword("user.password", up.Password); err != nil {
			return nil, err
		}
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "update_attributes")
	if err != nil {
		return nil, err
	}
	if _, err := s.findUser(ctx, inst, ref); err != nil {
		return nil, err
	}
	if up.Name != "" && up.Name != ref.Name {
		users, err := s.guestUsers(ctx, inst)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(users, func(e guest.UserInfo) bool { return e.Name == up.Name }) {
			return nil, badRequest("A user with the name %s already exists on instance %s.", up.Name, inst.ID)
		}
	}
	change := guest.UpdateUserInput{UserRef: ref, NewName: up.Name, NewHost: up.Host, Password: up.Password}
	if err := s.changeGuest(ctx, inst, "users/update", guest.UpdateUserActivity, change); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) changePasswords(ctx context.Context, in *ChangePasswordsRequest) (*struct{}, error) {
	var users []coffer.User
	for i, u := range in.Body.Users {
		if err := checkUserName(u.Name); err != nil {
			return nil, badRequest("Invalid request: users[%d].name: %v.", i, err)
		}
		if err := checkHost(u.Host); err != nil {
			return nil, badRequest("Invalid request: users[%d].host: %v.", i, err)
		}
		if err := s.checkPassword("users[i].password", u.Password); err != nil {
			return nil, err
		}
		users = append(users, coffer.User{Name: u.Name, Password: u.Password, Host: u.Host})
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "change_passwords")
	if err != nil {
		return nil, err
	}
	existing, err := s.guestUsers(ctx, inst)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		host := u.Host
		if host == "" {
			host = guest.DefaultHost
		}
		if !slices.ContainsFunc(existing, func(e guest.UserInfo) bool { return e.Name == u.Name && e.Host == host }) {
			return nil, itemNotFound("User %s@%s could not be found on instance %s.", u.Name, host, inst.ID)
		}
	}
	if err := s.changeGuest(ctx, inst, "users/passwords", guest.ChangePasswordsActivity, users); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) deleteUser(ctx context.Context, in *UserPath) (*struct{}, error) {
	ref, err := userRef(in.User)
	if err != nil {
		return nil, err
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "delete_user")
	if err != nil {
		return nil, err
	}
	if _, err := s.findUser(ctx, inst, ref); err != nil {
		return nil, err
	}
	if err := s.changeGuest(ctx, inst, "users/delete", guest.DeleteUserActivity, ref); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) listAccess(ctx context.Context, in *UserPath) (*AccessResponse, error) {
	ref, err := userRef(in.User)
	if err != nil {
		return nil, err
	}
	inst, err := s.schemaInstance(ctx, in.ProjectID, in.ID, "list_access")
	if err != nil {
		return nil, err
	}
	u, err := s.findUser(ctx, inst, ref)
	if err != nil {
		return nil, err
	}
	out := &AccessResponse{}
	out.Body.Databases = userView(u).Databases
	return out, nil
}

// access checks a grant or revoke: the user and every database must exist.
func (s *Server) access(ctx context.Context, operation, projectID, instanceID, user string, databases []string) (*coffer.Instance, guest.AccessInput, error) {
	ref, err := userRef(user)
	if err != nil {
		return nil, guest.AccessInput{}, err
	}
	for i, d := range databases {
		if err := checkName(d); err != nil {
			return nil, guest.AccessInput{}, badRequest("Invalid request: databases[%d].name: %v.", i, err)
		}
	}
	inst, err := s.schemaInstance(ctx, projectID, instanceID, operation)
	if err != nil {
		return nil, guest.AccessInput{}, err
	}
	if _, err := s.findUser(ctx, inst, ref); err != nil {
		return nil, guest.AccessInput{}, err
	}
	dbs, err := s.guestDatabases(ctx, inst)
	if err != nil {
		return nil, guest.AccessInput{}, err
	}
	for _, d := range databases {
		if !hasDatabase(dbs, d) {
			return nil, guest.AccessInput{}, itemNotFound("Database %s could not be found on instance %s.", d, inst.ID)
		}
	}
	return inst, guest.AccessInput{UserRef: ref, Databases: databases}, nil
}

func (s *Server) grantAccess(ctx context.Context, in *GrantRequest) (*struct{}, error) {
	var names []string
	for _, d := range in.Body.Databases {
		names = append(names, d.Name)
	}
	inst, access, err := s.access(ctx, "grant_access", in.ProjectID, in.ID, in.User, names)
	if err != nil {
		return nil, err
	}
	if err := s.changeGuest(ctx, inst, "users/grant", guest.GrantAccessActivity, access); err != nil {
		return nil, err
	}
	return accepted()
}

func (s *Server) revokeAccess(ctx context.Context, in *RevokeRequest) (*struct{}, error) {
	inst, access, err := s.access(ctx, "revoke_access", in.ProjectID, in.ID, in.User, []string{in.Database})
	if err != nil {
		return nil, err
	}
	if err := s.changeGuest(ctx, inst, "users/revoke", guest.RevokeAccessActivity, access); err != nil {
		return nil, err
	}
	return accepted()
}
